//! The hub-native TODO list: tasks with a title, a markdown body, a priority
//! (`high`/`medium`/`low`/`future`), a status (`open` → `claimed` → `done`) and an assignee,
//! kept by the store (`store::todos`). Validation lives here so every entry point agrees.

pub use crate::hub::store::domain::{Claim, Filter, NewTodo, Todo, TodoPatch};

/// Priorities, most urgent first; the list is ordered this way.
pub const PRIORITIES: &[&str] = &["high", "medium", "low", "future"];
/// Statuses in their natural order.
pub const STATUSES: &[&str] = &["open", "claimed", "done"];

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_NAME_CHARS: usize = 128;


pub fn title(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("title is required".into());
    }
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(format!("title is longer than {MAX_TITLE_CHARS} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("title must be one line of printable characters".into());
    }
    Ok(t.to_string())
}

pub fn body(raw: &str) -> Result<String, String> {
    if raw.len() > MAX_BODY_BYTES {
        return Err(format!("body is longer than {MAX_BODY_BYTES} bytes"));
    }
    Ok(raw.to_string())
}

pub fn priority(raw: &str) -> Result<String, String> {
    one_of(raw, PRIORITIES, "priority")
}

pub fn status(raw: &str) -> Result<String, String> {
    one_of(raw, STATUSES, "status")
}

fn one_of(raw: &str, allowed: &[&str], what: &str) -> Result<String, String> {
    let v = raw.trim().to_ascii_lowercase();
    if allowed.contains(&v.as_str()) { Ok(v) } else { Err(format!("{what} must be one of {}", allowed.join(", "))) }
}

/// An agent or person name; empty means nobody.
pub fn name(raw: &str, what: &str) -> Result<String, String> {
    let n = raw.trim();
    if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) {
        return Err(format!("{what} must be at most {MAX_NAME_CHARS} printable characters"));
    }
    Ok(n.trim_start_matches('@').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(title("  fix it ").unwrap(), "fix it");
        assert!(title("   ").is_err());
        assert!(title("a\nb").is_err());
        assert!(title(&"x".repeat(201)).is_err());
        assert_eq!(priority("HIGH").unwrap(), "high");
        assert!(priority("urgent").is_err());
        assert!(status("closed").is_err());
        assert_eq!(name("@worker-1", "assignee").unwrap(), "worker-1");
        assert!(body(&"x".repeat(MAX_BODY_BYTES + 1)).is_err());
    }
}
