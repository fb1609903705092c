//! The `push_subscriptions` table: browsers to notify (types and checks in
//! [`crate::hub::features::push::subscriptions`]).

use rusqlite::params;
use serde_json::Value;

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::PushSubscriptions;
use crate::hub::store::domain::PushJob;
use crate::hub::store::domain::Subscription;
use crate::protocol::now_ts;

#[async_trait]
impl PushSubscriptions for SqliteStore {
    async fn upsert_push_subscription(&self, s: Subscription, admin: bool) -> Result<Option<usize>, StoreError> {
        self.write(move |c| {
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

    async fn remove_push_subscription(&self, endpoint: &str, workspace: Option<&str>) -> Result<bool, StoreError> {
        let (e, ws) = (endpoint.to_string(), workspace.map(String::from));
        self.write(move |c| c.execute("DELETE FROM push_subscriptions WHERE endpoint = ?1 AND (?2 IS NULL OR workspace_id = ?2)", params![e, ws]))
            .await
            .map(|n| n > 0)
    }

    async fn count_push_subscriptions(&self, workspace: Option<String>) -> Result<u64, StoreError> {
        self.read(move |c| {
            c.query_row("SELECT COUNT(*) FROM push_subscriptions WHERE ?1 IS NULL OR workspace_id = ?1", [workspace], |r| r.get::<_, i64>(0))
        })
        .await
        .map(|n| n as u64)
    }

    async fn push_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.read(|c| c.prepare("SELECT * FROM push_subscriptions ORDER BY created_at")?.query_map([], from_row)?.collect()).await
    }

    async fn approver_subscriptions(&self, workspace: &str) -> Result<Vec<Subscription>, StoreError> {
        let workspace = workspace.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT * FROM push_subscriptions WHERE workspace_id = '' OR token_hash IN (
                     SELECT t.token_hash FROM workspace_token_hashes t JOIN workspaces w ON w.id = t.workspace_id
                     WHERE t.role = 'approver' AND (t.workspace_id = ?1 OR (?1 = '' AND w.name = ?2)))",
            )?
            .query_map(params![workspace, crate::hub::store::records::DEFAULT_NAME], from_row)?
            .collect()
        })
        .await
    }

    async fn push_targets(&self, job: &PushJob) -> Result<Vec<Subscription>, StoreError> {
        let mentions = Value::from(job.mentions.clone()).to_string();
        let (channel, sender, audience) = (job.channel.clone(), job.sender.clone(), job.audience.clone());
        self.read(move |c| {
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
