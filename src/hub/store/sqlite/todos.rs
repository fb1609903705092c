//! The `todos` table: the hub's task list (types in [`crate::hub::store::domain`], validation in [`crate::hub::features::todos`]).

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::Todos;
use crate::hub::store::records::{claimable, done_patch, patch_todo};
use crate::hub::store::domain::{Claim, Filter, NewTodo, Todo, TodoPatch};
use crate::protocol::now_ts;

#[async_trait]
impl Todos for SqliteStore {
    async fn todos(&self, filter: Filter) -> Result<Vec<Todo>, StoreError> {
        self.read(move |c| list(c, &filter)).await
    }

    async fn todo(&self, id: i64) -> Result<Option<Todo>, StoreError> {
        self.read(move |c| get(c, id)).await
    }

    async fn create_todo(&self, new: NewTodo) -> Result<Todo, StoreError> {
        self.write(move |c| create(c, &new)).await
    }

    async fn update_todo(&self, id: i64, patch: TodoPatch) -> Result<Result<Option<Todo>, String>, StoreError> {
        self.write(move |c| update(c, id, &patch)).await
    }

    async fn claim_todo(&self, id: i64, who: String) -> Result<Claim, StoreError> {
        self.write(move |c| claim(c, id, &who)).await
    }

    async fn close_todo(&self, id: i64) -> Result<Option<Todo>, StoreError> {
        self.write(move |c| close(c, id)).await
    }

    async fn delete_todo(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |c| delete(c, id)).await
    }
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
fn list(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<Todo>> {
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

fn get(c: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM todos WHERE id = ?1"))?.query_row([id], from_row).optional()
}

fn create(c: &Connection, t: &NewTodo) -> rusqlite::Result<Todo> {
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

/// Applies a patch (see [`patch_todo`]); `Ok(None)` for an unknown id.
fn update(c: &Connection, id: i64, p: &TodoPatch) -> rusqlite::Result<Result<Option<Todo>, String>> {
    let Some(mut t) = get(c, id)? else { return Ok(Ok(None)) };
    let now = now_ts();
    if let Err(e) = patch_todo(&mut t, p, &now) {
        return Ok(Err(e));
    }
    c.execute(
        "UPDATE todos SET title = ?2, body = ?3, priority = ?4, status = ?5, assignee = ?6, updated_at = ?7, closed_at = ?8
         WHERE id = ?1",
        params![id, t.title, t.body, t.priority, t.status, t.assignee, now, t.closed_at],
    )?;
    Ok(Ok(get(c, id)?))
}

/// Claims an open task for `who`; claiming again by the same name is a no-op.
fn claim(c: &Connection, id: i64, who: &str) -> rusqlite::Result<Claim> {
    let Some(t) = get(c, id)? else { return Ok(Claim::NotFound) };
    if !claimable(&t, who) {
        return Ok(Claim::Refused(t));
    }
    c.execute(
        "UPDATE todos SET status = 'claimed', assignee = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, who, now_ts()],
    )?;
    Ok(Claim::Claimed(get(c, id)?.expect("the row just updated")))
}

/// Marks a task done (idempotent).
fn close(c: &Connection, id: i64) -> rusqlite::Result<Option<Todo>> {
    Ok(update(c, id, &done_patch())?.ok().flatten())
}

fn delete(c: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(c.execute("DELETE FROM todos WHERE id = ?1", [id])? > 0)
}
