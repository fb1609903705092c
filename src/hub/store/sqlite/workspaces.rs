//! Workspaces, their channels, members, invites and tokens. Tokens are stored as hashes and
//! shown once, when created; deleting a workspace cascades to its tokens. Workspaces are served
//! as the reference's JSON objects.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde_json::Value;

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::Workspaces;
use crate::hub::store::records::{DEFAULT_NAME, InviteRow, IssuedToken, NewInvite, TokenRef, TokenRole, WorkspaceRow, token_json};
use crate::protocol::now_ts;

#[async_trait]
impl Workspaces for SqliteStore {
    async fn workspace(&self, id: String) -> Result<Option<Value>, StoreError> {
        self.read(move |c| get(c, &id)).await
    }

    async fn workspaces(&self) -> Result<Vec<Value>, StoreError> {
        self.read(list).await
    }

    async fn workspace_exists(&self, id: String) -> Result<bool, StoreError> {
        self.read(move |c| exists(c, &id)).await
    }

    async fn create_workspace(&self, name: String, description: String, channels: Vec<String>) -> Result<Option<(String, String)>, StoreError> {
        self.write(move |c| match create(c, &name, &description, &channels) {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => Ok(None),
            other => other.map(Some),
        })
        .await
    }

    async fn delete_workspace(&self, id: String) -> Result<Option<Vec<String>>, StoreError> {
        self.write(move |c| delete(c, &id)).await
    }

    async fn workspace_invites(&self, id: String) -> Result<Vec<Value>, StoreError> {
        self.read(move |c| invites(c, &id)).await
    }

    async fn create_invite(&self, workspace_id: String, invite: NewInvite) -> Result<Value, StoreError> {
        self.write(move |c| create_invite(c, &workspace_id, &invite)).await
    }

    async fn redeem_invite(&self, token: String, agent: String) -> Result<Option<String>, StoreError> {
        self.write(move |c| redeem(c, &token, &agent)).await
    }

    async fn token_workspace(&self, hash: String) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.query_row("SELECT workspace_id FROM workspace_token_hashes WHERE token_hash = ?1", [hash], |r| r.get(0)).optional()
        })
        .await
    }

    async fn workspace_name(&self, id: String) -> Result<Option<String>, StoreError> {
        self.read(move |c| c.query_row("SELECT name FROM workspaces WHERE id = ?1", [id], |r| r.get(0)).optional()).await
    }

    async fn add_workspace_channel(&self, id: String, channel: String) -> Result<(), StoreError> {
        self.write(move |c| c.execute("INSERT OR IGNORE INTO workspace_channels (workspace_id, channel) VALUES (?1, ?2)", [&id, &channel]))
            .await
            .map(drop)
    }

    async fn add_workspace_member(&self, id: String, agent: String, role: String) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO workspace_members (workspace_id, agent_name, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
                [&id, &agent, &role, &now_ts()],
            )
        })
        .await
        .map(drop)
    }

    async fn revoke_invite(&self, id: String, invite: String) -> Result<bool, StoreError> {
        self.write(move |c| c.execute("DELETE FROM workspace_invites WHERE token = ?1 AND workspace_id = ?2", [&invite, &id]))
            .await
            .map(|n| n > 0)
    }

    async fn workspace_tokens(&self, id: String) -> Result<Vec<Value>, StoreError> {
        self.read(move |c| tokens(c, &id)).await
    }

    async fn create_token(&self, workspace_id: String, label: String, role: TokenRole) -> Result<String, StoreError> {
        self.write(move |c| insert_token(c, &workspace_id, &label, &role)).await
    }

    async fn revoke_token(&self, workspace_id: String, token_or_id: String) -> Result<Vec<String>, StoreError> {
        self.write(move |c| revoke_token(c, &workspace_id, &token_or_id)).await
    }

    async fn ensure_default_workspace(&self) -> Result<(), StoreError> {
        self.write(|c| {
            let exists: bool = c.prepare("SELECT 1 FROM workspaces WHERE name = ?1")?.exists([DEFAULT_NAME])?;
            if !exists {
                let id = uuid::Uuid::new_v4().to_string();
                c.execute(
                    "INSERT INTO workspaces (id, name, description, created_at) VALUES (?1, ?2, 'Default workspace', ?3)",
                    params![id, DEFAULT_NAME, now_ts()],
                )?;
                c.execute("INSERT INTO workspace_channels (workspace_id, channel) VALUES (?1, '#general')", [&id])?;
            }
            Ok(())
        })
        .await
    }
}

/// The workspace object of the reference.
fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    let row = c
        .query_row("SELECT id, name, description, settings, created_at FROM workspaces WHERE id = ?1", [id], |r| {
            Ok(WorkspaceRow {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                settings: r.get(3)?,
                created_at: r.get(4)?,
                channels: Vec::new(),
                members: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut row) = row else { return Ok(None) };
    row.channels = c
        .prepare_cached("SELECT channel FROM workspace_channels WHERE workspace_id = ?1 ORDER BY channel")?
        .query_map([&row.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    row.members = c
        .prepare_cached("SELECT agent_name, role FROM workspace_members WHERE workspace_id = ?1 ORDER BY agent_name")?
        .query_map([&row.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(row.to_json()))
}

fn list(c: &Connection) -> rusqlite::Result<Vec<Value>> {
    let ids: Vec<String> =
        c.prepare("SELECT id FROM workspaces ORDER BY name")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    ids.iter().filter_map(|id| get(c, id).transpose()).collect()
}

fn exists(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")?.exists([id])
}

fn create(c: &mut Connection, name: &str, description: &str, channels: &[String]) -> rusqlite::Result<(String, String)> {
    let tx = c.transaction()?;
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO workspaces (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, name, description, now_ts()],
    )?;
    for ch in channels {
        tx.execute("INSERT OR IGNORE INTO workspace_channels (workspace_id, channel) VALUES (?1, ?2)", [&id, ch])?;
    }
    let token = insert_token(&tx, &id, "default", &TokenRole::Member)?;
    tx.commit()?;
    Ok((id, token))
}

fn insert_token(c: &Connection, workspace_id: &str, label: &str, role: &TokenRole) -> rusqlite::Result<String> {
    let issued = IssuedToken::issue();
    let (role, person) = role.columns();
    c.execute(
        "INSERT INTO workspace_token_hashes (token_hash, token_hint, workspace_id, label, created_at, role, person)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![issued.hash, issued.hint, workspace_id, label, now_ts(), role, person],
    )?;
    Ok(issued.token)
}

/// Tokens of a workspace, newest first.
fn tokens(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
    c.prepare("SELECT token_hash, token_hint, label, created_at, role, person FROM workspace_token_hashes WHERE workspace_id = ?1 ORDER BY created_at DESC, rowid DESC")?
        .query_map([workspace_id], |r| {
            let text = |i| r.get::<_, String>(i);
            Ok(token_json(&text(0)?, &text(1)?, &text(2)?, &text(3)?, &text(4)?, &text(5)?))
        })?
        .collect()
}

/// Deletes a token given as itself or by its id (hash prefix); returns the hashes deleted, so
/// their live sockets can be closed.
fn revoke_token(c: &Connection, workspace_id: &str, token_or_id: &str) -> rusqlite::Result<Vec<String>> {
    let (condition, key) = match TokenRef::parse(token_or_id) {
        Some(TokenRef::Hash(h)) => ("token_hash = ?2", h),
        Some(TokenRef::IdPrefix(p)) => ("substr(token_hash, 1, 16) = ?2", p),
        None => return Ok(Vec::new()),
    };
    c.prepare(&format!("DELETE FROM workspace_token_hashes WHERE workspace_id = ?1 AND {condition} RETURNING token_hash"))?
        .query_map([workspace_id, &key], |r| r.get(0))?
        .collect()
}

/// Deletes a workspace other than the default (its tokens go with it); returns the deleted
/// tokens' hashes, or `None` when nothing was deleted.
fn delete(c: &mut Connection, id: &str) -> rusqlite::Result<Option<Vec<String>>> {
    let tx = c.transaction()?;
    let hashes: Vec<String> = tx
        .prepare("SELECT token_hash FROM workspace_token_hashes WHERE workspace_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let n = tx.execute("DELETE FROM workspaces WHERE id = ?1 AND name != ?2", [id, DEFAULT_NAME])?;
    tx.commit()?;
    Ok((n > 0).then_some(hashes))
}

const INVITE: &str = "token, role, created_by, created_at, expires_at, max_uses, use_count";

/// The [`INVITE`] columns from `at` on.
fn invite_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<InviteRow> {
    Ok(InviteRow {
        token: r.get(at)?,
        role: r.get(at + 1)?,
        created_by: r.get(at + 2)?,
        created_at: r.get(at + 3)?,
        expires_at: r.get(at + 4)?,
        max_uses: r.get(at + 5)?,
        use_count: r.get(at + 6)?,
    })
}

fn invites(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
    c.prepare(&format!("SELECT {INVITE} FROM workspace_invites WHERE workspace_id = ?1 ORDER BY created_at DESC"))?
        .query_map([workspace_id], |r| invite_row(r, 0).map(|i| i.to_json()))?
        .collect()
}

fn create_invite(c: &Connection, workspace_id: &str, inv: &NewInvite) -> rusqlite::Result<Value> {
    let i = InviteRow::new(inv);
    c.execute(
        &format!("INSERT INTO workspace_invites (workspace_id, {INVITE}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![workspace_id, i.token, i.role, i.created_by, i.created_at, i.expires_at, i.max_uses, i.use_count],
    )?;
    Ok(i.created_json(workspace_id))
}

/// Redeems an invite for `agent`; returns the workspace id when valid.
fn redeem(c: &mut Connection, token: &str, agent: &str) -> rusqlite::Result<Option<String>> {
    let tx = c.transaction()?;
    let row = tx
        .query_row(&format!("SELECT workspace_id, {INVITE} FROM workspace_invites WHERE token = ?1"), [token], |r| {
            Ok((r.get::<_, String>(0)?, invite_row(r, 1)?))
        })
        .optional()?;
    let Some((ws, invite)) = row.filter(|(_, i)| i.usable()) else { return Ok(None) };
    tx.execute("UPDATE workspace_invites SET use_count = use_count + 1 WHERE token = ?1", [token])?;
    tx.execute(
        "INSERT OR REPLACE INTO workspace_members (workspace_id, agent_name, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
        params![ws, agent, invite.member_role(), now_ts()],
    )?;
    tx.commit()?;
    Ok(Some(ws))
}
