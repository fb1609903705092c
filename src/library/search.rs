//! Ranking: exact and prefix name hits first, then word-level similarity (Jaro-Winkler, so a
//! typo still finds the word) over name, tags, description and body.

use super::Entry;

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_lowercase)
}

/// Best similarity of `term` to any word of `text`, 0..=1; below 0.85 counts as no match.
fn best(term: &str, text: &str) -> f64 {
    let mut top: f64 = 0.0;
    for w in words(text) {
        let s = if w == term {
            1.0
        } else if w.starts_with(term) && term.len() >= 3 {
            0.95
        } else {
            strsim::jaro_winkler(term, &w)
        };
        top = top.max(s);
        if top >= 1.0 {
            break;
        }
    }
    if top >= 0.85 { top } else { 0.0 }
}

pub fn rank<'a>(entries: &'a [Entry], query: &str) -> Vec<(f64, &'a Entry)> {
    let terms: Vec<String> = words(query).collect();
    if terms.is_empty() {
        return Vec::new();
    }
    let q = query.trim().to_lowercase();
    let mut scored: Vec<(f64, &Entry)> = entries
        .iter()
        .filter_map(|e| {
            let tags = e.tags.join(" ");
            let mut score = 0.0;
            for t in &terms {
                let hit = 4.0 * best(t, &e.name) + 3.0 * best(t, &tags) + 2.0 * best(t, &e.description) + best(t, &e.body);
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
    scored
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

    #[test]
    fn typos_still_rank_the_right_entry_first() {
        let es = [entry("agent-deployment", "launch agents"), entry("hpc-etiquette", "cluster manners"), entry("dashboard", "web ui")];
        assert_eq!(rank(&es, "deploymnet")[0].1.name, "agent-deployment");
        assert_eq!(rank(&es, "etiquete")[0].1.name, "hpc-etiquette");
        assert!(rank(&es, "zzzz").is_empty());
        assert_eq!(nearest_names(&es, "dashbord"), ["dashboard"]);
    }
}
