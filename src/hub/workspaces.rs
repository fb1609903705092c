//! Workspaces, their channels, members, invites and tokens. Tokens are stored as hashes and
//! shown once, when created; deleting a workspace cascades to its tokens.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::auth::hash_token;
use super::store::{Store, StoreError};
use crate::protocol::now_ts;

pub const DEFAULT_NAME: &str = "default";

pub async fn ensure_default(store: &Store) -> Result<(), StoreError> {
    store
        .write(|c| {
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

/// The workspace object of the reference: `{id, name, description, channels, members, settings, created_at}`.
pub fn get(c: &Connection, id: &str) -> rusqlite::Result<Option<Value>> {
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

pub fn list(c: &Connection) -> rusqlite::Result<Vec<Value>> {
    let ids: Vec<String> =
        c.prepare("SELECT id FROM workspaces ORDER BY name")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    ids.iter().filter_map(|id| get(c, id).transpose()).collect()
}

pub fn exists(c: &Connection, id: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM workspaces WHERE id = ?1")?.exists([id])
}

pub fn create(c: &mut Connection, name: &str, description: &str, channels: &[String]) -> rusqlite::Result<(String, String)> {
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

pub fn insert_token(c: &Connection, workspace_id: &str, label: &str, role: &TokenRole) -> rusqlite::Result<String> {
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
pub fn tokens(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
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
pub fn revoke_token(c: &Connection, workspace_id: &str, token_or_id: &str) -> rusqlite::Result<Vec<String>> {
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
pub fn delete(c: &mut Connection, id: &str) -> rusqlite::Result<Option<Vec<String>>> {
    let tx = c.transaction()?;
    let hashes: Vec<String> = tx
        .prepare("SELECT token_hash FROM workspace_token_hashes WHERE workspace_id = ?1")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let n = tx.execute("DELETE FROM workspaces WHERE id = ?1 AND name != ?2", [id, DEFAULT_NAME])?;
    tx.commit()?;
    Ok((n > 0).then_some(hashes))
}

pub fn invites(c: &Connection, workspace_id: &str) -> rusqlite::Result<Vec<Value>> {
    c.prepare("SELECT token, role, created_by, created_at, expires_at, max_uses, use_count FROM workspace_invites WHERE workspace_id = ?1 ORDER BY created_at DESC")?
        .query_map([workspace_id], |r| {
            Ok(json!({"token": r.get::<_, String>(0)?, "role": r.get::<_, Option<String>>(1)?, "created_by": r.get::<_, Option<String>>(2)?,
                "created_at": r.get::<_, Option<String>>(3)?, "expires_at": r.get::<_, Option<String>>(4)?,
                "max_uses": r.get::<_, i64>(5)?, "use_count": r.get::<_, i64>(6)?}))
        })?
        .collect()
}

pub struct NewInvite {
    pub created_by: String,
    pub role: String,
    pub max_uses: i64,
    pub expires_hours: f64,
}

pub fn create_invite(c: &Connection, workspace_id: &str, inv: &NewInvite) -> rusqlite::Result<Value> {
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
pub fn redeem(c: &mut Connection, token: &str, agent: &str) -> rusqlite::Result<Option<String>> {
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
