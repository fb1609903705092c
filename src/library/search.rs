//! Ranking: exact and prefix name hits first, then word-level similarity (Jaro-Winkler, so a
//! typo still finds the word) over name, tags, description and body. The search is open to
//! anyone, so its cost is bounded: at most [`MAX_TERMS`] terms from at most [`MAX_QUERY_CHARS`]
//! characters, against each entry's distinct words (indexed once, long words left out).

use super::{Entry, LibraryError};

/// Longest query searched, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most distinct words of a query searched.
pub const MAX_TERMS: usize = 8;
/// Longer words are not indexed: no one searches for them, and similarity costs their length.
const MAX_WORD_CHARS: usize = 40;

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_lowercase)
}

/// The distinct words of one field, sorted.
#[derive(Debug, Clone, Default)]
pub struct Words(Vec<String>);

impl Words {
    pub fn of(text: &str) -> Words {
        let mut w: Vec<String> = words(text).filter(|w| w.chars().count() <= MAX_WORD_CHARS).collect();
        w.sort_unstable();
        w.dedup();
        Words(w)
    }
}

/// An entry's fields as distinct words, built when the library loads.
#[derive(Debug, Clone, Default)]
pub struct Index {
    name: Words,
    tags: Words,
    description: Words,
    body: Words,
}

impl Index {
    pub fn of(e: &Entry) -> Index {
        Index { name: Words::of(&e.name), tags: Words::of(&e.tags.join(" ")), description: Words::of(&e.description), body: Words::of(&e.body) }
    }
}

/// Best similarity of `term` to any word of a field, 0..=1; below 0.85 counts as no match.
fn best(term: &str, field: &Words) -> f64 {
    let mut top: f64 = 0.0;
    for w in &field.0 {
        let s = if *w == term {
            1.0
        } else if w.starts_with(term) && term.len() >= 3 {
            0.95
        } else {
            strsim::jaro_winkler(term, w)
        };
        top = top.max(s);
        if top >= 1.0 {
            break;
        }
    }
    if top >= 0.85 { top } else { 0.0 }
}

/// The distinct terms of a query, or why it is not searched.
fn terms(query: &str) -> Result<Vec<String>, LibraryError> {
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(LibraryError::QueryTooLong { chars, max: MAX_QUERY_CHARS });
    }
    let mut terms: Vec<String> = Vec::new();
    for t in words(query) {
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    if terms.len() > MAX_TERMS {
        return Err(LibraryError::TooManyTerms { terms: terms.len(), max: MAX_TERMS });
    }
    Ok(terms)
}

/// `index` holds one [`Index`] per entry, in the same order.
pub fn rank<'a>(entries: &'a [Entry], index: &[Index], query: &str) -> Result<Vec<(f64, &'a Entry)>, LibraryError> {
    let terms = terms(query)?;
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let q = query.trim().to_lowercase();
    let mut scored: Vec<(f64, &Entry)> = entries
        .iter()
        .zip(index)
        .filter_map(|(e, ix)| {
            let mut score = 0.0;
            for t in &terms {
                let hit = 4.0 * best(t, &ix.name) + 3.0 * best(t, &ix.tags) + 2.0 * best(t, &ix.description) + best(t, &ix.body);
                if hit == 0.0 {
                    return None;
                }
                score += hit;
            }
            if e.name == q {
                score += 10.0;
            } else if e.name.starts_with(&q) {
                score += 5.0;
            }
            Some(((score * 100.0).round() / 100.0, e))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    // Drop the long tail of faint body-only matches.
    let cut = scored.first().map_or(0.0, |(top, _)| top * 0.3);
    scored.retain(|(s, _)| *s >= cut);
    Ok(scored)
}

/// Up to three names close to `name`, for "did you mean".
pub fn nearest_names(entries: &[Entry], name: &str) -> Vec<String> {
    let mut close: Vec<(f64, &str)> = entries
        .iter()
        .map(|e| (strsim::jaro_winkler(&name.to_lowercase(), &e.name), e.name.as_str()))
        .filter(|(s, _)| *s >= 0.7)
        .collect();
    close.sort_by(|a, b| b.0.total_cmp(&a.0));
    close.into_iter().take(3).map(|(_, n)| n.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, description: &str) -> Entry {
        Entry { name: name.into(), description: description.into(), tags: vec![], body: String::new() }
    }

    fn search(es: &[Entry], query: &str) -> Result<Vec<String>, LibraryError> {
        let index: Vec<Index> = es.iter().map(Index::of).collect();
        Ok(rank(es, &index, query)?.into_iter().map(|(_, e)| e.name.clone()).collect())
    }

    #[test]
    fn typos_still_rank_the_right_entry_first() {
        let es = [entry("agent-deployment", "launch agents"), entry("hpc-etiquette", "cluster manners"), entry("dashboard", "web ui")];
        assert_eq!(search(&es, "deploymnet").unwrap()[0], "agent-deployment");
        assert_eq!(search(&es, "etiquete").unwrap()[0], "hpc-etiquette");
        assert!(search(&es, "zzzz").unwrap().is_empty());
        assert_eq!(nearest_names(&es, "dashbord"), ["dashboard"]);
    }

    #[test]
    fn queries_are_bounded() {
        let es = [entry("dashboard", "web ui")];
        let many: Vec<String> = (0..=MAX_TERMS).map(|i| format!("term{i}")).collect();
        assert!(matches!(search(&es, &many.join(" ")), Err(LibraryError::TooManyTerms { .. })));
        assert_eq!(search(&es, &"dashboard ".repeat(20)).unwrap(), ["dashboard"], "repeated words count once");
        assert!(matches!(search(&es, &"x".repeat(MAX_QUERY_CHARS + 1)), Err(LibraryError::QueryTooLong { .. })));
    }
}
