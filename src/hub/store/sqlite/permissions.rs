//! The `permissions` table (values in [`crate::hub::store::permissions`]). A pending row
//! changes only once because every change is one conditional `UPDATE` on the single writer
//! connection.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::PermissionRequests;
use crate::hub::store::permissions::{Answer, ApproverRow, Filter, Request};

#[async_trait]
impl PermissionRequests for SqliteStore {
    async fn permission(&self, id: String) -> Result<Option<Request>, StoreError> {
        self.read(move |c| get(c, &id)).await
    }

    async fn permission_by_frame(&self, workspace: String, agent: String, frame_id: String) -> Result<Option<Request>, StoreError> {
        self.read(move |c| by_frame(c, &workspace, &agent, &frame_id)).await
    }

    async fn insert_permission(&self, r: Request) -> Result<bool, StoreError> {
        self.write(move |c| insert(c, &r)).await
    }

    async fn answer_permission(&self, id: String, a: Answer) -> Result<Result<Request, Option<Request>>, StoreError> {
        self.write(move |c| answer(c, &id, &a)).await
    }

    async fn expire_permissions(&self, ids: Vec<String>, at_ms: i64) -> Result<Vec<Request>, StoreError> {
        self.write(move |c| expire(c, &ids, at_ms)).await
    }

    async fn pending_permissions(&self) -> Result<Vec<Request>, StoreError> {
        self.read(pending).await
    }

    async fn permissions(&self, filter: Filter) -> Result<Vec<Request>, StoreError> {
        self.read(move |c| list(c, &filter)).await
    }

    async fn prune_permissions(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.write(move |c| prune(c, before_ms)).await
    }

    async fn approver(&self, token_hash: String) -> Result<Option<ApproverRow>, StoreError> {
        self.read(move |c| approver(c, &token_hash)).await
    }
}

const TABLE: &str = "
CREATE TABLE IF NOT EXISTS permissions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    frame_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    description TEXT NOT NULL,
    input_preview TEXT NOT NULL,
    asker_token_hash TEXT,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    answered_by TEXT NOT NULL DEFAULT '',
    answered_ms INTEGER,
    answered_from TEXT NOT NULL DEFAULT '',
    answered_via TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_permissions_frame ON permissions(workspace_id, agent, frame_id);
CREATE INDEX IF NOT EXISTS idx_permissions_created ON permissions(created_ms);
";

pub fn migrate(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(TABLE)?;
    // Tokens gain a role (`member`, or `approver` for one named person).
    for (column, ddl) in [
        ("role", "ALTER TABLE workspace_token_hashes ADD COLUMN role TEXT NOT NULL DEFAULT 'member';"),
        ("person", "ALTER TABLE workspace_token_hashes ADD COLUMN person TEXT NOT NULL DEFAULT '';"),
    ] {
        let has = c.prepare(&format!("SELECT 1 FROM pragma_table_info('workspace_token_hashes') WHERE name = '{column}'"))?.exists([])?;
        if !has {
            c.execute_batch(ddl)?;
        }
    }
    // Browsers subscribed with an approver token hear approval requests.
    let has = c.prepare("SELECT 1 FROM pragma_table_info('push_subscriptions') WHERE name = 'token_hash'")?.exists([])?;
    if !has {
        c.execute_batch("ALTER TABLE push_subscriptions ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';")?;
    }
    Ok(())
}

const COLUMNS: &str = "id, workspace_id, agent, request_id, tool_name, description, input_preview, frame_id, asker_token_hash, \
     created_ms, expires_ms, status, answered_by, answered_ms, answered_from, answered_via";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        agent: r.get(2)?,
        request_id: r.get(3)?,
        tool_name: r.get(4)?,
        description: r.get(5)?,
        input_preview: r.get(6)?,
        frame_id: r.get(7)?,
        asker_token_hash: r.get(8)?,
        created_ms: r.get(9)?,
        expires_ms: r.get(10)?,
        status: r.get(11)?,
        answered_by: r.get(12)?,
        answered_ms: r.get(13)?,
        answered_from: r.get(14)?,
        answered_via: r.get(15)?,
    })
}

fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Request>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM permissions WHERE id = ?1"))?.query_row([id], from_row).optional()
}

/// The request a bridge sent with this frame id before (a re-announce after a reconnect).
fn by_frame(c: &Connection, workspace: &str, agent: &str, frame_id: &str) -> rusqlite::Result<Option<Request>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM permissions WHERE workspace_id = ?1 AND agent = ?2 AND frame_id = ?3"))?
        .query_row([workspace, agent, frame_id], from_row)
        .optional()
}

/// Stores a new pending request under `id`; false when the id is taken (pick another).
fn insert(c: &Connection, r: &Request) -> rusqlite::Result<bool> {
    let n = c.execute(
        "INSERT OR IGNORE INTO permissions (id, workspace_id, agent, frame_id, request_id, tool_name, description, input_preview,
             asker_token_hash, created_ms, expires_ms, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending')",
        params![r.id, r.workspace_id, r.agent, r.frame_id, r.request_id, r.tool_name, r.description, r.input_preview,
            r.asker_token_hash, r.created_ms, r.expires_ms],
    )?;
    Ok(n == 1)
}

/// Answers a request still pending and not past its expiry; `Ok(Err(row))` gives the row as it
/// stands when it was not (or `None` for an unknown id).
fn answer(c: &Connection, id: &str, a: &Answer) -> rusqlite::Result<Result<Request, Option<Request>>> {
    let updated = c
        .prepare_cached(&format!(
            "UPDATE permissions SET status = ?2, answered_by = ?3, answered_ms = ?4, answered_from = ?5, answered_via = ?6
             WHERE id = ?1 AND status = 'pending' AND expires_ms > ?4 RETURNING {COLUMNS}"
        ))?
        .query_row(params![id, a.status, a.by, a.at_ms, a.from, a.via], from_row)
        .optional()?;
    match updated {
        Some(r) => Ok(Ok(r)),
        None => Ok(Err(get(c, id)?)),
    }
}

/// Marks these requests expired where they are still pending; returns those it changed.
fn expire(c: &Connection, ids: &[String], at_ms: i64) -> rusqlite::Result<Vec<Request>> {
    let mut out = Vec::new();
    let mut stmt = c.prepare_cached(&format!(
        "UPDATE permissions SET status = 'expired', answered_ms = ?2 WHERE id = ?1 AND status = 'pending' RETURNING {COLUMNS}"
    ))?;
    for id in ids {
        if let Some(r) = stmt.query_row(params![id, at_ms], from_row).optional()? {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every pending request (the hub's memory of deadlines is rebuilt from them at start).
fn pending(c: &Connection) -> rusqlite::Result<Vec<Request>> {
    c.prepare(&format!("SELECT {COLUMNS} FROM permissions WHERE status = 'pending' ORDER BY created_ms"))?.query_map([], from_row)?.collect()
}

/// Newest first.
fn list(c: &Connection, f: &Filter) -> rusqlite::Result<Vec<Request>> {
    let scopes = f.workspaces.as_ref().map(|w| serde_json::Value::from(w.clone()).to_string());
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM permissions
         WHERE (?1 OR status = 'pending')
           AND (?2 IS NULL OR workspace_id IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR agent = ?3)
         ORDER BY created_ms DESC, rowid DESC LIMIT ?4"
    ))?
    .query_map(params![f.all, scopes, f.agent, f.limit], from_row)?
    .collect()
}

/// Deletes answered and expired requests answered (or expired) before `before_ms`.
fn prune(c: &Connection, before_ms: i64) -> rusqlite::Result<usize> {
    c.execute("DELETE FROM permissions WHERE status != 'pending' AND answered_ms < ?1", [before_ms])
}

fn approver(c: &Connection, token_hash: &str) -> rusqlite::Result<Option<ApproverRow>> {
    c.prepare_cached(
        "SELECT t.person, t.workspace_id, w.name = ?2 FROM workspace_token_hashes t JOIN workspaces w ON w.id = t.workspace_id
         WHERE t.token_hash = ?1 AND t.role = 'approver'",
    )?
    .query_row(params![token_hash, crate::hub::store::records::DEFAULT_NAME], |r| {
        Ok(ApproverRow { person: r.get(0)?, workspace_id: r.get(1)?, default_workspace: r.get(2)? })
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        super::super::migrate_for_tests(&c);
        c
    }

    fn request(id: &str, expires_ms: i64) -> Request {
        Request {
            id: id.into(),
            workspace_id: "w".into(),
            agent: "a".into(),
            request_id: "abcde".into(),
            tool_name: "Bash".into(),
            description: "run".into(),
            input_preview: "{}".into(),
            frame_id: format!("f-{id}"),
            asker_token_hash: None,
            created_ms: 1,
            expires_ms,
            status: "pending".into(),
            answered_by: String::new(),
            answered_ms: None,
            answered_from: String::new(),
            answered_via: String::new(),
        }
    }

    fn answer_at(at_ms: i64) -> Answer {
        Answer { status: "allowed", by: "alice".into(), from: "127.0.0.1".into(), via: "rest", at_ms }
    }

    #[test]
    fn answered_once_and_never_after_expiry() {
        let c = db();
        assert!(insert(&c, &request("aaaaaa", 100)).unwrap());
        assert!(!insert(&c, &request("aaaaaa", 100)).unwrap(), "a taken id is refused");
        let first = answer(&c, "aaaaaa", &answer_at(50)).unwrap().unwrap();
        assert_eq!((first.status.as_str(), first.answered_by.as_str(), first.behavior()), ("allowed", "alice", Some("allow")));
        let again = answer(&c, "aaaaaa", &answer_at(60)).unwrap().unwrap_err().unwrap();
        assert_eq!(again.status, "allowed");
        assert_eq!(answer(&c, "nope", &answer_at(60)).unwrap().unwrap_err(), None);
        insert(&c, &request("bbbbbb", 100)).unwrap();
        assert_eq!(answer(&c, "bbbbbb", &answer_at(100)).unwrap().unwrap_err().unwrap().status, "pending", "past its expiry");
        assert_eq!(expire(&c, &["bbbbbb".into(), "aaaaaa".into()], 101).unwrap().len(), 1, "only the pending one");
    }

    #[test]
    fn prune_keeps_pending_and_recent() {
        let c = db();
        for id in ["aaaaaa", "bbbbbb", "cccccc"] {
            insert(&c, &request(id, 1000)).unwrap();
        }
        answer(&c, "aaaaaa", &answer_at(10)).unwrap().unwrap();
        answer(&c, "bbbbbb", &answer_at(500)).unwrap().unwrap();
        assert_eq!(prune(&c, 100).unwrap(), 1);
        let left: Vec<String> = list(&c, &Filter { all: true, limit: 10, ..Filter::default() }).unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(left.len(), 2);
        assert!(left.contains(&"cccccc".to_string()) && left.contains(&"bbbbbb".to_string()));
        let pending = list(&c, &Filter { limit: 10, workspaces: Some(vec!["w".into()]), ..Filter::default() }).unwrap();
        assert_eq!(pending.len(), 1);
        assert!(list(&c, &Filter { limit: 10, workspaces: Some(vec!["other".into()]), ..Filter::default() }).unwrap().is_empty());
    }
}
