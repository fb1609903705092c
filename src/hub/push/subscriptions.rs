//! Stored browser subscriptions: who they notify (`owner`, the name people @mention), which
//! channels they opted into, and the workspace whose token subscribed (only it and the admin
//! see or change the subscription).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PushJob;
use crate::hub::store::{Store, StoreError};
use crate::protocol::now_ts;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub owner: String,
    pub channels: Vec<String>,
    pub user_agent: String,
    pub created_at: String,
    pub workspace_id: String,
    /// Hash of the workspace token that subscribed (empty for the admin token): an approver
    /// token's browsers hear permission requests while the token lives.
    #[serde(skip)]
    pub token_hash: String,
}

impl Subscription {
    /// The push service's host, for logs (the endpoint path is a capability).
    pub fn host(&self) -> String {
        url::Url::parse(&self.endpoint).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("endpoint must be an http(s) URL")]
    Endpoint,
    #[error("keys.p256dh must be a base64url P-256 public key")]
    P256dh,
    #[error("keys.auth must be 16 bytes of base64url")]
    Auth,
}

/// Checks the browser-supplied fields before anything is stored.
pub fn check(endpoint: &str, p256dh: &str, auth: &str) -> Result<(), SubscriptionError> {
    let ok_url = url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !ok_url || endpoint.len() > 2048 {
        return Err(SubscriptionError::Endpoint);
    }
    let key = URL_SAFE_NO_PAD.decode(p256dh.trim_end_matches('=')).map_err(|_| SubscriptionError::P256dh)?;
    web_push_native::p256::PublicKey::from_sec1_bytes(&key).map_err(|_| SubscriptionError::P256dh)?;
    let a = URL_SAFE_NO_PAD.decode(auth.trim_end_matches('=')).map_err(|_| SubscriptionError::Auth)?;
    if a.len() != 16 {
        return Err(SubscriptionError::Auth);
    }
    Ok(())
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    let channels: String = r.get("channels")?;
    Ok(Subscription {
        endpoint: r.get("endpoint")?,
        p256dh: r.get("keys_p256dh")?,
        auth: r.get("keys_auth")?,
        owner: r.get("owner")?,
        channels: serde_json::from_str(&channels).unwrap_or_default(),
        user_agent: r.get::<_, Option<String>>("user_agent")?.unwrap_or_default(),
        created_at: r.get::<_, Option<String>>("created_at")?.unwrap_or_default(),
        workspace_id: r.get("workspace_id")?,
        token_hash: r.get("token_hash")?,
    })
}

/// Inserts or replaces by endpoint; returns the subscriber's count of subscriptions, or `None`
/// when the endpoint belongs to another workspace (only the admin may take it over).
pub async fn upsert(store: &Store, s: Subscription, admin: bool) -> Result<Option<usize>, StoreError> {
    store
        .write(move |c| {
            let changed = c.execute(
                "INSERT INTO push_subscriptions (endpoint, keys_p256dh, keys_auth, user_agent, created_at, owner, channels, workspace_id, token_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?10)
                 ON CONFLICT(endpoint) DO UPDATE SET keys_p256dh = excluded.keys_p256dh, keys_auth = excluded.keys_auth,
                     user_agent = excluded.user_agent, created_at = excluded.created_at, owner = excluded.owner,
                     channels = excluded.channels, workspace_id = excluded.workspace_id, token_hash = excluded.token_hash
                 WHERE ?9 OR push_subscriptions.workspace_id = excluded.workspace_id",
                params![s.endpoint, s.p256dh.trim_end_matches('='), s.auth.trim_end_matches('='), s.user_agent, now_ts(), s.owner,
                    Value::from(s.channels).to_string(), s.workspace_id, admin, s.token_hash],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let sql = "SELECT COUNT(*) FROM push_subscriptions WHERE ?1 OR workspace_id = ?2";
            c.query_row(sql, params![admin, s.workspace_id], |r| r.get::<_, i64>(0)).map(|n| Some(n as usize))
        })
        .await
}

/// Removes a subscription; with `workspace`, only one of that workspace.
pub async fn remove(store: &Store, endpoint: &str, workspace: Option<&str>) -> Result<bool, StoreError> {
    let (e, ws) = (endpoint.to_string(), workspace.map(String::from));
    store
        .write(move |c| c.execute("DELETE FROM push_subscriptions WHERE endpoint = ?1 AND (?2 IS NULL OR workspace_id = ?2)", params![e, ws]))
        .await
        .map(|n| n > 0)
}

pub async fn all(store: &Store) -> Result<Vec<Subscription>, StoreError> {
    store.read(|c| c.prepare("SELECT * FROM push_subscriptions ORDER BY created_at")?.query_map([], from_row)?.collect()).await
}

/// Subscriptions of the mentioned people, and those opted into the channel, never the sender's.
/// A workspace's subscription hears only senders of its own workspace (the names it holds), as
/// its agents would live; the admin's hear everyone.
pub async fn targets(store: &Store, job: &PushJob) -> Result<Vec<Subscription>, StoreError> {
    let mentions = Value::from(job.mentions.clone()).to_string();
    let (channel, sender, audience) = (job.channel.clone(), job.sender.clone(), job.audience.clone());
    store
        .read(move |c| {
            c.prepare_cached(
                "SELECT * FROM push_subscriptions WHERE owner != ?3 AND (
                    owner IN (SELECT value FROM json_each(?1))
                    OR EXISTS (SELECT 1 FROM json_each(channels) WHERE value = ?2))
                    AND (workspace_id = '' OR ?4 IS NULL OR workspace_id = ?4)",
            )?
            .query_map(params![mentions, channel, sender, audience], from_row)?
            .collect()
        })
        .await
}

/// Subscriptions that hear a permission request of `workspace`: the admin token's, and those
/// made with a live approver token that may answer it (see `permissions::Answerer::sees`).
pub async fn approvers(store: &Store, workspace: &str) -> Result<Vec<Subscription>, StoreError> {
    let workspace = workspace.to_string();
    store
        .read(move |c| {
            c.prepare_cached(
                "SELECT * FROM push_subscriptions WHERE workspace_id = '' OR token_hash IN (
                     SELECT t.token_hash FROM workspace_token_hashes t JOIN workspaces w ON w.id = t.workspace_id
                     WHERE t.role = 'approver' AND (t.workspace_id = ?1 OR (?1 = '' AND w.name = ?2)))",
            )?
            .query_map(params![workspace, crate::hub::workspaces::DEFAULT_NAME], from_row)?
            .collect()
        })
        .await
}
