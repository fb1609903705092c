//! Small values of the workspace, name and todo domains, and the SQL-free rules every backend
//! shares: how tokens and invites are made and shown, when an invite still holds, how a todo
//! patch applies and who may claim a task.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::domain::{Todo, TodoPatch};
use crate::protocol::now_ts;

/// The workspace every hub has, created at first start with `#general`.
pub const DEFAULT_NAME: &str = "default";

/// An invite to create.
pub struct NewInvite {
    pub created_by: String,
    pub role: String,
    pub max_uses: i64,
    pub expires_hours: f64,
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

/// A new workspace token: `wks_` and 128 random bits in hex.
fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    format!("wks_{}", hex::encode(bytes))
}

/// A token made now: shown once, stored as its hash with a hint.
pub struct IssuedToken {
    pub token: String,
    pub hash: String,
    pub hint: String,
}

impl IssuedToken {
    pub fn issue() -> Self {
        let token = new_token();
        IssuedToken { hash: hash_token(&token), hint: format!("{}…", &token[..8]), token }
    }
}

/// How a revocation names a token: by itself (stored as its hash) or by its id, the first 16
/// hex digits of the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRef {
    Hash(String),
    IdPrefix(String),
}

impl TokenRef {
    /// `None` when the text is neither a token nor an id (nothing is revoked).
    pub fn parse(token_or_id: &str) -> Option<TokenRef> {
        if token_or_id.starts_with("wks_") {
            Some(TokenRef::Hash(hash_token(token_or_id)))
        } else if token_or_id.len() == 16 && token_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(TokenRef::IdPrefix(token_or_id.to_string()))
        } else {
            None
        }
    }
}

/// A stored token as listed: an id (hash prefix) and a hint, never the token.
pub fn token_json(hash: &str, hint: &str, label: &str, created_at: &str, role: &str, person: &str) -> Value {
    json!({"id": &hash[..16], "hint": hint, "label": label, "created_at": created_at, "role": role, "person": person})
}

/// A stored workspace row with its channels and members, as the reference's object:
/// `{id, name, description, channels, members, settings, created_at}`.
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: Option<String>,
    pub created_at: Option<String>,
    pub channels: Vec<String>,
    /// `(agent, role)`, ordered by agent.
    pub members: Vec<(String, String)>,
}

impl WorkspaceRow {
    pub fn to_json(self) -> Value {
        let members: Map<String, Value> = self.members.into_iter().map(|(a, r)| (a, Value::String(r))).collect();
        let settings: Value = self.settings.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_else(|| json!({}));
        json!({
            "id": self.id, "name": self.name, "description": self.description.unwrap_or_default(), "channels": self.channels,
            "members": members, "settings": settings, "created_at": self.created_at,
        })
    }
}

/// An invite as stored and listed.
pub struct InviteRow {
    pub token: String,
    pub role: Option<String>,
    pub created_by: Option<String>,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub max_uses: i64,
    pub use_count: i64,
}

impl InviteRow {
    /// A new invite of `workspace`: a 16-hex-digit token, the expiry `expires_hours` from now.
    pub fn new(inv: &NewInvite) -> Self {
        let expires_at = (inv.expires_hours > 0.0).then(|| {
            let at = chrono::Utc::now() + chrono::Duration::seconds((inv.expires_hours * 3600.0) as i64);
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        });
        InviteRow {
            token: uuid::Uuid::new_v4().simple().to_string()[..16].to_string(),
            role: Some(inv.role.clone()),
            created_by: Some(inv.created_by.clone()),
            created_at: Some(now_ts()),
            expires_at,
            max_uses: inv.max_uses,
            use_count: 0,
        }
    }

    /// Whether it may be redeemed now: not expired, uses left.
    pub fn usable(&self) -> bool {
        let expired = self.expires_at.as_ref().is_some_and(|e| now_ts() > *e);
        !expired && (self.max_uses <= 0 || self.use_count < self.max_uses)
    }

    /// The role a member joins with.
    pub fn member_role(&self) -> String {
        self.role.clone().unwrap_or_else(|| "member".into())
    }

    pub fn to_json(&self) -> Value {
        json!({"token": self.token, "role": self.role, "created_by": self.created_by, "created_at": self.created_at,
            "expires_at": self.expires_at, "max_uses": self.max_uses, "use_count": self.use_count})
    }

    /// What creating it answers.
    pub fn created_json(&self, workspace_id: &str) -> Value {
        json!({"token": self.token, "workspace_id": workspace_id, "role": self.role, "expires_at": self.expires_at, "max_uses": self.max_uses})
    }
}

/// One claim as `GET /api/names` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NameClaim {
    pub name: String,
    pub workspace_id: String,
    pub claimed_at: String,
}

/// What the database says about a claimed name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Held by this workspace (maybe just now).
    Holder(String),
    /// Free, but the claiming workspace holds its quota.
    Full,
}

/// Applies a patch to a task as read: `done` stamps `closed_at` (`now`); leaving `done` clears
/// it; `open` with no assignee given clears the assignee. `Err` is a patch that would leave
/// the task inconsistent.
pub fn patch_todo(t: &mut Todo, p: &TodoPatch, now: &str) -> Result<(), String> {
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
        return Err("a claimed task needs an assignee".into());
    }
    t.closed_at = match (t.status.as_str(), t.closed_at.take()) {
        ("done", Some(at)) => Some(at),
        ("done", None) => Some(now.to_string()),
        _ => None,
    };
    Ok(())
}

/// The patch that closes a task.
pub fn done_patch() -> TodoPatch {
    TodoPatch { status: Some("done".into()), ..TodoPatch::default() }
}

/// Whether `who` may claim the task: it is open, or claimed by nobody or by `who` already.
pub fn claimable(t: &Todo, who: &str) -> bool {
    t.status == "open" || (t.status == "claimed" && (t.assignee == who || t.assignee.is_empty()))
}

/// How a workspace token is kept: its SHA-256, so the database never holds a usable token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
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
