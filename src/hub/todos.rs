//! The hub-native TODO list: tasks with a title, a markdown body, a priority
//! (`high`/`medium`/`low`/`future`), a status (`open` → `claimed` → `done`) and an assignee,
//! kept in the `todos` table. Validation lives here so every entry point agrees.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use crate::protocol::now_ts;

/// Priorities, most urgent first; the list is ordered this way.
pub const PRIORITIES: &[&str] = &["high", "medium", "low", "future"];
/// Statuses in their natural order.
pub const STATUSES: &[&str] = &["open", "claimed", "done"];

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_NAME_CHARS: usize = 128;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub priority: String,
    pub status: String,
    pub assignee: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    /// The workspace that created it (`""`: the admin's); only it and the admin see the task.
    pub workspace_id: String,
}

/// A task to create, already validated.
#[derive(Debug, Clone)]
pub struct NewTodo {
    pub title: String,
    pub body: String,
    pub priority: String,
    pub assignee: String,
    pub created_by: String,
    pub workspace_id: String,
}

/// Fields to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct TodoPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
}

/// List filters; an empty list means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    pub assignee: Option<String>,
    /// Only this workspace's tasks; `None` for all (the admin).
    pub workspace: Option<String>,
}

pub enum Claim {
    Claimed(Todo),
    NotFound,
    /// Done, or claimed by someone else: the task as it stands.
    Refused(Todo),
}

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

const COLUMNS: &str = "id, title, body, priority, status, assignee, created_by, created_at, updated_at, closed_at, workspace_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Todo> {
    Ok(Todo {
        id: r.get(0)?,
        title: r.get(1)?,
        body: r.get(2)?,
        priority: r.get(3)?,
        status: r.get(4)?,
        assignee: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        closed_at: r.get(9)?,
        workspace_id: r.get(10)?,
    })
}

/// Tasks by priority (high first), then unfinished before done, then newest first.
pub fn list(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<Todo>> {
    let mut sql = format!("SELECT {COLUMNS} FROM todos WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    for (column, values) in [("status", &f.statuses), ("priority", &f.priorities)] {
        if !values.is_empty() {
            let marks = vec!["?"; values.len()].join(", ");
            sql.push_str(&format!(" AND {column} IN ({marks})"));
            args.extend(values.iter().cloned());
        }
    }
    if let Some(a) = &f.assignee {
        sql.push_str(" AND assignee = ?");
        args.push(a.clone());
    }
    if let Some(w) = &f.workspace {
        sql.push_str(" AND workspace_id = ?");
        args.push(w.clone());
    }
    sql.push_str(
        " ORDER BY CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END,
                   CASE status WHEN 'done' THEN 1 ELSE 0 END, id DESC",
    );
    c.prepare(&sql)?.query_map(params_from_iter(args.iter()), from_row)?.collect()
}

pub fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM todos WHERE id = ?1"))?.query_row([id], from_row).optional()
}

pub fn create(c: &Connection, t: &NewTodo) -> rusqlite::Result<Todo> {
    let now = now_ts();
    let status = if t.assignee.is_empty() { "open" } else { "claimed" };
    c.execute(
        "INSERT INTO todos (title, body, priority, status, assignee, created_by, created_at, updated_at, workspace_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![t.title, t.body, t.priority, status, t.assignee, t.created_by, now, t.workspace_id],
    )?;
    let id = c.last_insert_rowid();
    get(c, id).map(|t| t.expect("the row just inserted"))
}

/// Applies a patch. `done` stamps `closed_at`; leaving `done` clears it; `open` with no
/// assignee given clears the assignee. Returns `Ok(None)` for an unknown id and
/// `Err(message)` for a patch that would leave the task inconsistent.
pub fn update(c: &Connection, id: i64, p: &TodoPatch) -> rusqlite::Result<Result<Option<Todo>, String>> {
    let Some(mut t) = get(c, id)? else { return Ok(Ok(None)) };
    if let Some(v) = &p.title {
        t.title = v.clone();
    }
    if let Some(v) = &p.body {
        t.body = v.clone();
    }
    if let Some(v) = &p.priority {
        t.priority = v.clone();
    }
    if let Some(v) = &p.assignee {
        t.assignee = v.clone();
    }
    if let Some(s) = &p.status {
        if s == "open" && p.assignee.is_none() {
            t.assignee.clear();
        }
        t.status = s.clone();
    }
    if t.status == "claimed" && t.assignee.is_empty() {
        return Ok(Err("a claimed task needs an assignee".into()));
    }
    let now = now_ts();
    t.closed_at = match (t.status.as_str(), t.closed_at.take()) {
        ("done", Some(at)) => Some(at),
        ("done", None) => Some(now.clone()),
        _ => None,
    };
    c.execute(
        "UPDATE todos SET title = ?2, body = ?3, priority = ?4, status = ?5, assignee = ?6, updated_at = ?7, closed_at = ?8
         WHERE id = ?1",
        params![id, t.title, t.body, t.priority, t.status, t.assignee, now, t.closed_at],
    )?;
    Ok(Ok(get(c, id)?))
}

/// Claims an open task for `who`; claiming again by the same name is a no-op.
pub fn claim(c: &Connection, id: i64, who: &str) -> rusqlite::Result<Claim> {
    let Some(t) = get(c, id)? else { return Ok(Claim::NotFound) };
    let free = t.status == "open" || (t.status == "claimed" && (t.assignee == who || t.assignee.is_empty()));
    if !free {
        return Ok(Claim::Refused(t));
    }
    c.execute(
        "UPDATE todos SET status = 'claimed', assignee = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, who, now_ts()],
    )?;
    Ok(Claim::Claimed(get(c, id)?.expect("the row just updated")))
}

/// Marks a task done (idempotent).
pub fn close(c: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    let patch = TodoPatch { status: Some("done".into()), ..TodoPatch::default() };
    Ok(update(c, id, &patch)?.ok().flatten())
}

pub fn delete(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM todos WHERE id = ?1", [id])? > 0)
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
