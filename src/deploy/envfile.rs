//! Env files (`env/<instance>.env`): `NAME=value` lines with their line numbers.
//!
//! Syntax: blank lines and lines starting with `#` are skipped; an optional `export ` prefix;
//! values are taken verbatim (surrounding spaces trimmed) unless quoted: `'...'` is literal,
//! `"..."` understands `\"`, `\\` and `\n`. There are no inline comments and no `${}` expansion.

use std::path::{Path, PathBuf};

/// One assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// A line that is not an assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct EnvFile {
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    pub errors: Vec<SyntaxError>,
}

impl EnvFile {
    pub fn read(path: &Path) -> std::io::Result<EnvFile> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self::parse(path, &text))
    }

    pub fn parse(path: &Path, text: &str) -> EnvFile {
        let mut file = EnvFile { path: path.to_path_buf(), ..Default::default() };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            match parse_line(raw) {
                Ok(Some((key, value))) => file.entries.push(Entry { line, key, value }),
                Ok(None) => {}
                Err(message) => file.errors.push(SyntaxError { line, message }),
            }
        }
        file
    }

    /// The value in force (the last assignment wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.key == key).map(|e| e.value.as_str())
    }

    /// Name/value pairs, last assignment winning, in first-seen order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for e in &self.entries {
            match out.iter_mut().find(|(k, _)| *k == e.key) {
                Some(slot) => slot.1 = e.value.clone(),
                None => out.push((e.key.clone(), e.value.clone())),
            }
        }
        out
    }
}

fn parse_line(raw: &str) -> Result<Option<(String, String)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").map(str::trim_start).unwrap_or(line);
    let Some((key, value)) = line.split_once('=') else {
        return Err("expected NAME=value".into());
    };
    let key = key.trim_end();
    let valid_key = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_key {
        // Never the text itself: a line that is not a variable may be a pasted secret.
        return Err("the text before = is not a variable name (letters, digits and _)".into());
    }
    Ok(Some((key.to_string(), unquote(value.trim())?)))
}

fn unquote(v: &str) -> Result<String, String> {
    if let Some(rest) = v.strip_prefix('\'') {
        return rest.strip_suffix('\'').map(String::from).ok_or_else(|| "unterminated ' quote".into());
    }
    let Some(rest) = v.strip_prefix('"') else { return Ok(v.to_string()) };
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return if chars.as_str().trim().is_empty() { Ok(out) } else { Err("text after the closing \" quote".into()) };
            }
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    Err("unterminated \" quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_line_numbers() {
        let f = EnvFile::parse(Path::new("x.env"), "# c\n\nA=1\nexport B = 'x y' \nC=\"q\\\"z\"\nbad line\n1X=2\nA=3\n");
        assert_eq!(f.entries.len(), 4);
        assert_eq!((f.entries[1].line, f.entries[1].value.as_str()), (4, "x y"));
        assert_eq!(f.entries[2].value, "q\"z");
        assert_eq!(f.errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![6, 7]);
        assert_eq!(f.get("A"), Some("3"));
        assert_eq!(f.pairs()[0], ("A".into(), "3".into()));
    }
}
