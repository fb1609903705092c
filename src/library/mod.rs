//! The skills and docs browsers: markdown with front matter, embedded in the binary so they
//! work after install, listed, searched (ranked, typo-tolerant) and rendered safely.

mod render;
mod search;

use rust_embed::RustEmbed;
use serde::{Deserialize, Serialize};

pub use render::to_html;

#[derive(RustEmbed)]
#[folder = "skills/"]
#[include = "*.md"]
struct SkillFiles;

#[derive(RustEmbed)]
#[folder = "docs/"]
#[include = "*.md"]
struct DocFiles;

/// Which collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shelf {
    Skills,
    Docs,
}

impl Shelf {
    pub fn label(self) -> &'static str {
        match self {
            Shelf::Skills => "skills",
            Shelf::Docs => "docs",
        }
    }
}

/// One markdown document.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// Markdown without the front matter.
    #[serde(skip)]
    pub body: String,
}

#[derive(Debug, Default, Deserialize)]
struct FrontMatter {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("no {shelf} entry named {name:?}{}", suggestion(.suggestions))]
    NotFound { shelf: &'static str, name: String, suggestions: Vec<String> },
    #[error("cannot write {path}: {reason}")]
    Export { path: String, reason: String },
    #[error("the query is {chars} characters long; at most {max} are searched")]
    QueryTooLong { chars: usize, max: usize },
    #[error("the query has {terms} different words; at most {max} are searched")]
    TooManyTerms { terms: usize, max: usize },
}

fn suggestion(s: &[String]) -> String {
    if s.is_empty() { String::new() } else { format!("; did you mean {}?", s.join(", ")) }
}

/// A collection, parsed once from the embedded files.
pub struct Library {
    pub shelf: Shelf,
    entries: Vec<Entry>,
    /// One search index per entry, in the same order.
    index: Vec<search::Index>,
}

fn parse(file_stem: &str, text: &str) -> Entry {
    let matter = gray_matter::Matter::<gray_matter::engine::YAML>::new();
    let (front, body) = match matter.parse::<FrontMatter>(text) {
        Ok(parsed) => (parsed.data.unwrap_or_default(), parsed.content),
        Err(_) => (FrontMatter::default(), text.to_string()),
    };
    Entry {
        name: front.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| file_stem.to_string()),
        description: front.description.unwrap_or_default(),
        tags: front.tags,
        body,
    }
}

static SKILLS: std::sync::LazyLock<Library> = std::sync::LazyLock::new(|| Library::load(Shelf::Skills));
static DOCS: std::sync::LazyLock<Library> = std::sync::LazyLock::new(|| Library::load(Shelf::Docs));

/// The embedded collection, parsed on first use.
pub fn library(shelf: Shelf) -> &'static Library {
    match shelf {
        Shelf::Skills => &SKILLS,
        Shelf::Docs => &DOCS,
    }
}

impl Library {
    fn load(shelf: Shelf) -> Library {
        let files: Vec<(String, Vec<u8>)> = match shelf {
            Shelf::Skills => SkillFiles::iter().filter_map(|p| SkillFiles::get(&p).map(|f| (p.to_string(), f.data.to_vec()))).collect(),
            Shelf::Docs => DocFiles::iter().filter_map(|p| DocFiles::get(&p).map(|f| (p.to_string(), f.data.to_vec()))).collect(),
        };
        let mut entries: Vec<Entry> = files
            .iter()
            .map(|(path, bytes)| parse(path.trim_end_matches(".md"), &String::from_utf8_lossy(bytes)))
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let index = entries.iter().map(search::Index::of).collect();
        Library { shelf, entries, index }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with exactly this name, or the nearest names.
    pub fn get(&self, name: &str) -> Result<&Entry, LibraryError> {
        self.entries.iter().find(|e| e.name == name).ok_or_else(|| LibraryError::NotFound {
            shelf: self.shelf.label(),
            name: name.to_string(),
            suggestions: search::nearest_names(&self.entries, name),
        })
    }

    /// Entries ranked by relevance to `query`, best first; a query over the bounds is an error.
    pub fn search(&self, query: &str) -> Result<Vec<(f64, &Entry)>, LibraryError> {
        search::rank(&self.entries, &self.index, query)
    }

    /// Writes every entry under `dir`: skills as `<name>/SKILL.md` (the layout of
    /// `~/.claude/skills`), docs as `<name>.md`. Names come from the embedded index only.
    pub fn export(&self, dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, LibraryError> {
        let err = |p: &std::path::Path, e: std::io::Error| LibraryError::Export { path: p.display().to_string(), reason: e.to_string() };
        let mut written = Vec::new();
        for e in &self.entries {
            if !e.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                continue;
            }
            let path = match self.shelf {
                Shelf::Skills => dir.join(&e.name).join("SKILL.md"),
                Shelf::Docs => dir.join(format!("{}.md", e.name)),
            };
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|x| err(parent, x))?;
            }
            let text = format!("---\nname: {}\ndescription: {}\n---\n{}", e.name, e.description, e.body);
            std::fs::write(&path, text).map_err(|x| err(&path, x))?;
            written.push(path);
        }
        Ok(written)
    }
}
