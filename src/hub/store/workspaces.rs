//! Workspaces, their channels, members, invites and tokens. Tokens are stored as hashes and
//! shown once, when created; deleting a workspace cascades to its tokens. Workspaces are served
//! as the reference's JSON objects.

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::{Store, StoreError};
use crate::hub::state::auth::hash_token;
use crate::protocol::now_ts;

pub const DEFAULT_NAME: &str = "default";

pub struct NewInvite {
    pub created_by: String,
    pub role: String,
    pub max_uses: i64,
    pub expires_hours: f64,
}

impl Store {
    /// The workspace object of the reference, if it exists.
    pub async fn workspace(&self, id: String) -> Result<Option<Value>, StoreError> {
        self.read(move |c| get(c, &id)).await
    }

    pub async fn workspaces(&self) -> Result<Vec<Value>, StoreError> {
        self.read(list).await
    }

    pub async fn workspace_exists(&self, id: String) -> Result<bool, StoreError> {
        self.read(move |c| exists(c, &id)).await
    }

    /// Creates a workspace with its channels and a first token: `(id, token)`, or `None` when
    /// the name is taken.
    pub async fn create_workspace(&self, name: String, description: String, channels: Vec<String>) -> Result<Option<(String, String)>, StoreError> {
        self.write(move |c| match create(c, &name, &description, &channels) {
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => Ok(None),
            other => other.map(Some),
        })
        .await
    }

    /// Deletes a workspace; returns the hashes of the tokens that went with it, or `None` when
    /// it did not exist.
    pub async fn delete_workspace(&self, id: String) -> Result<Option<Vec<String>>, StoreError> {
        self.write(move |c| delete(c, &id)).await
    }

    pub async fn workspace_invites(&self, id: String) -> Result<Vec<Value>, StoreError> {
        self.read(move |c| invites(c, &id)).await
    }

    pub async fn create_invite(&self, workspace_id: String, invite: NewInvite) -> Result<Value, StoreError> {
        self.write(move |c| create_invite(c, &workspace_id, &invite)).await
    }

    /// Makes `agent` a member through an invite; the workspace joined, if the invite is valid.
    pub async fn redeem_invite(&self, token: String, agent: String) -> Result<Option<String>, StoreError> {
        self.write(move |c| redeem(c, &token, &agent)).await
    }

    /// The workspace a token (given by its hash) belongs to.
    pub async fn token_workspace(&self, hash: String) -> Result<Option<String>, StoreError> {
        self.read(move |c| {
            c.query_row("SELECT workspace_id FROM workspace_token_hashes WHERE token_hash = ?1", [hash], |r| r.get(0)).optional()
        })
        .await
    }

    pub async fn workspace_name(&self, id: String) -> Result<Option<String>, StoreError> {
        self.read(move |c| c.query_row("SELECT name FROM workspaces WHERE id = ?1", [id], |r| r.get(0)).optional()).await
    }

    pub async fn add_workspace_channel(&self, id: String, channel: String) -> Result<(), StoreError> {
        self.write(move |c| c.execute("INSERT OR IGNORE INTO workspace_channels (workspace_id, channel) VALUES (?1, ?2)", [&id, &channel]))
            .await
            .map(drop)
    }

    /// Adds or updates a member with its role.
    pub async fn add_workspace_member(&self, id: String, agent: String, role: String) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO workspace_members (workspace_id, agent_name, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
                [&id, &agent, &role, &now_ts()],
            )
        })
        .await
        .map(drop)
    }

    /// Whether the invite existed.
    pub async fn revoke_invite(&self, id: String, invite: String) -> Result<bool, StoreError> {
        self.write(move |c| c.execute("DELETE FROM workspace_invites WHERE token = ?1 AND workspace_id = ?2", [&invite, &id]))
            .await
            .map(|n| n > 0)
    }

    /// A workspace's tokens, without their secrets.
    pub async fn workspace_tokens(&self, id: String) -> Result<Vec<Value>, StoreError> {
        self.read(move |c| tokens(c, &id)).await
    }

    /// Creates a token; returns it (only its hash is kept).
    pub async fn create_token(&self, workspace_id: String, label: String, role: TokenRole) -> Result<String, StoreError> {
        self.write(move |c| insert_token(c, &workspace_id, &label, &role)).await
    }

    /// Revokes a token given as itself or by id; returns the hashes revoked.
    pub async fn revoke_token(&self, workspace_id: String, token_or_id: String) -> Result<Vec<String>, StoreError> {
        self.write(move |c| revoke_token(c, &workspace_id, &token_or_id)).await
    }

    /// Creates the `default` workspace (with `#general`) on first start.
    pub async fn ensure_default_workspace(&self) -> Result<(), StoreError> {
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

/// The workspace object of the reference: `{id, name, description, channels, members, settings, created_at}`.
fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
    let row = c
        .query_row(
            "SELECT id, name, description, settings, created_at FROM workspaces WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .optional()?;
    let Some((id, name, description, settings, created_at)) = row else { return Ok(None) };
    let channels: Vec<String> = c
        .prepare_cached("SELECT channel FROM workspace_channels WHERE workspace_id = ?1 ORDER BY channel")?
        .query_map([&id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let members: Map<String, Value> = c
        .prepare_cached("SELECT agent_name, role FROM workspace_members WHERE workspace_id = ?1 ORDER BY agent_name")?
        .query_map([&id], |r| Ok((r.get::<_, String>(0)?, Value::String(r.get::<_, String>(1)?))))?
        .collect::<Result<_, _>>()?;
    let settings: Value = settings.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_else(|| json!({}));
    Ok(Some(json!({
        "id": id, "name": name, "description": description.unwrap_or_default(), "channels": channels,
        "members": members, "settings": settings, "created_at": created_at,
    })))
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

/// Creates a token and returns it; only its hash is kept.
/// `wks_` and 128 random bits in hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("wks_{}", hex::encode(bytes))
}

/// What a workspace token may do beyond its workspace's reads: an approver token names one
/// person and may answer the workspace's permission requests (see `hub::permissions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRole {
    Member,
    Approver { person: String },
}

impl TokenRole {
    /// The `role` and `person` columns.
    pub fn columns(&self) -> (&'static str, &str) {
        match self {
            TokenRole::Member => ("member", ""),
            TokenRole::Approver { person } => ("approver", person),
        }
    }
}

fn insert_token(c: &Connection, workspace_id: &str, label: &str, role: &TokenRole) -> rusqlite::Result<String> {
    let token = new_token();
    let hint = format!("{}…", &token[..8]);
    let (role, person) = role.columns();
    c.execute(
        "INSERT INTO workspace_token_hashes (token_hash, token_hint, workspace_id, label, created_at, role, person)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![hash_token(&token), hint, workspace_id, label, now_ts(), role, person],
    )?;
    Ok(token)
}

/// Tokens of a workspace, newest first: an id (hash prefix) and a hint, never the token.
fn tokens(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
    c.prepare("SELECT token_hash, token_hint, label, created_at, role, person FROM workspace_token_hashes WHERE workspace_id = ?1 ORDER BY created_at DESC, rowid DESC")?
        .query_map([workspace_id], |r| {
            let hash: String = r.get(0)?;
            Ok(json!({"id": &hash[..16], "hint": r.get::<_, String>(1)?, "label": r.get::<_, String>(2)?, "created_at": r.get::<_, String>(3)?,
                "role": r.get::<_, String>(4)?, "person": r.get::<_, String>(5)?}))
        })?
        .collect()
}

/// Revokes by the full token or by its id; true when one was removed.
/// Deletes a token given as itself or by its id (hash prefix); returns the hashes deleted, so
/// their live sockets can be closed.
fn revoke_token(c: &Connection, workspace_id: &str, token_or_id: &str) -> rusqlite::Result<Vec<String>> {
    let (condition, key) = if token_or_id.starts_with("wks_") {
        ("token_hash = ?2", hash_token(token_or_id))
    } else if token_or_id.len() == 16 && token_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        ("substr(token_hash, 1, 16) = ?2", token_or_id.to_string())
    } else {
        return Ok(Vec::new());
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

fn invites(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
    c.prepare("SELECT token, role, created_by, created_at, expires_at, max_uses, use_count FROM workspace_invites WHERE workspace_id = ?1 ORDER BY created_at DESC")?
        .query_map([workspace_id], |r| {
            Ok(json!({"token": r.get::<_, String>(0)?, "role": r.get::<_, Option<String>>(1)?, "created_by": r.get::<_, Option<String>>(2)?,
                "created_at": r.get::<_, Option<String>>(3)?, "expires_at": r.get::<_, Option<String>>(4)?,
                "max_uses": r.get::<_, i64>(5)?, "use_count": r.get::<_, i64>(6)?}))
        })?
        .collect()
}

fn create_invite(c: &Connection, workspace_id: &str, inv: &NewInvite) -> rusqlite::Result<Value> {
    let token = uuid::Uuid::new_v4().simple().to_string()[..16].to_string();
    let expires_at = (inv.expires_hours > 0.0).then(|| {
        let at = chrono::Utc::now() + chrono::Duration::seconds((inv.expires_hours * 3600.0) as i64);
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    });
    c.execute(
        "INSERT INTO workspace_invites (token, workspace_id, role, created_by, created_at, expires_at, max_uses) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![token, workspace_id, inv.role, inv.created_by, now_ts(), expires_at, inv.max_uses],
    )?;
    Ok(json!({"token": token, "workspace_id": workspace_id, "role": inv.role, "expires_at": expires_at, "max_uses": inv.max_uses}))
}

/// Redeems an invite for `agent`; returns the workspace id when valid.
fn redeem(c: &mut Connection, token: &str, agent: &str) -> rusqlite::Result<Option<String>> {
    let tx = c.transaction()?;
    let row = tx
        .query_row(
            "SELECT workspace_id, role, expires_at, max_uses, use_count FROM workspace_invites WHERE token = ?1",
            [token],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?)),
        )
        .optional()?;
    let Some((ws, role, expires_at, max_uses, use_count)) = row else { return Ok(None) };
    let expired = expires_at.is_some_and(|e| now_ts() > e);
    if expired || (max_uses > 0 && use_count >= max_uses) {
        return Ok(None);
    }
    tx.execute("UPDATE workspace_invites SET use_count = use_count + 1 WHERE token = ?1", [token])?;
    tx.execute(
        "INSERT OR REPLACE INTO workspace_members (workspace_id, agent_name, role, joined_at) VALUES (?1, ?2, ?3, ?4)",
        params![ws, agent, role.unwrap_or_else(|| "member".into()), now_ts()],
    )?;
    tx.commit()?;
    Ok(Some(ws))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn tokens_carry_128_random_bits() {
        let tokens: Vec<String> = (0..200).map(|_| super::new_token()).collect();
        for t in &tokens {
            assert_eq!(t.len(), 4 + 32, "{t}");
            assert!(t["wks_".len()..].bytes().all(|b| b.is_ascii_hexdigit()), "{t}");
        }
        // Every hex digit carries four random bits: each position takes (nearly) all 16 values,
        // not the few a hex-encoded ASCII string allows.
        for pos in 4..36 {
            let seen: HashSet<u8> = tokens.iter().map(|t| t.as_bytes()[pos]).collect();
            assert!(seen.len() > 10, "position {pos} takes only {seen:?}");
        }
        assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), tokens.len());
    }
}
