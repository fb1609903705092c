//! The `push_subscriptions` table: browsers to notify (types and checks in
//! [`crate::hub::features::push::subscriptions`]). `channels` holds a JSON array, as in SQLite.

use async_trait::async_trait;
use serde_json::Value;
use tokio_postgres::Row;

use super::PgStore;
use crate::hub::features::push::PushJob;
use crate::hub::features::push::subscriptions::Subscription;
use crate::hub::store::backend::PushSubscriptions;
use crate::hub::store::{DEFAULT_NAME, StoreError};
use crate::protocol::now_ts;

const COLUMNS: &str = "endpoint, keys_p256dh, keys_auth, owner, channels, user_agent, created_at, workspace_id, token_hash";

#[async_trait]
impl PushSubscriptions for PgStore {
    async fn upsert_push_subscription(&self, s: Subscription, admin: bool) -> Result<Option<usize>, StoreError> {
        let c = self.conn().await?;
        let changed = c
            .execute(
                "INSERT INTO push_subscriptions (endpoint, keys_p256dh, keys_auth, user_agent, created_at, owner, channels, workspace_id, token_hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10)
                 ON CONFLICT (endpoint) DO UPDATE SET keys_p256dh = excluded.keys_p256dh, keys_auth = excluded.keys_auth,
                     user_agent = excluded.user_agent, created_at = excluded.created_at, owner = excluded.owner,
                     channels = excluded.channels, workspace_id = excluded.workspace_id, token_hash = excluded.token_hash
                 WHERE $9 OR push_subscriptions.workspace_id = excluded.workspace_id",
                &[
                    &s.endpoint,
                    &s.p256dh.trim_end_matches('='),
                    &s.auth.trim_end_matches('='),
                    &s.user_agent,
                    &now_ts(),
                    &s.owner,
                    &Value::from(s.channels.clone()).to_string(),
                    &s.workspace_id,
                    &admin,
                    &s.token_hash,
                ],
            )
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        let n: i64 =
            c.query_one("SELECT COUNT(*) FROM push_subscriptions WHERE $1 OR workspace_id = $2", &[&admin, &s.workspace_id]).await?.get(0);
        Ok(Some(n as usize))
    }

    async fn remove_push_subscription(&self, endpoint: &str, workspace: Option<&str>) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .await?
            .execute("DELETE FROM push_subscriptions WHERE endpoint = $1 AND ($2::text IS NULL OR workspace_id = $2)", &[&endpoint, &workspace])
            .await?;
        Ok(n > 0)
    }

    async fn count_push_subscriptions(&self, workspace: Option<String>) -> Result<u64, StoreError> {
        let row = self
            .conn()
            .await?
            .query_one("SELECT COUNT(*) FROM push_subscriptions WHERE $1::text IS NULL OR workspace_id = $1", &[&workspace])
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn push_subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        let rows = self.conn().await?.query(&format!("SELECT {COLUMNS} FROM push_subscriptions ORDER BY created_at"), &[]).await?;
        Ok(rows.iter().map(from_row).collect())
    }

    async fn approver_subscriptions(&self, workspace: &str) -> Result<Vec<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM push_subscriptions WHERE workspace_id = '' OR token_hash IN (
                 SELECT t.token_hash FROM workspace_token_hashes t JOIN workspaces w ON w.id = t.workspace_id
                 WHERE t.role = 'approver' AND (t.workspace_id = $1 OR ($1 = '' AND w.name = $2)))"
        );
        Ok(self.conn().await?.query(&sql, &[&workspace, &DEFAULT_NAME]).await?.iter().map(from_row).collect())
    }

    async fn push_targets(&self, job: &PushJob) -> Result<Vec<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM push_subscriptions WHERE owner != $3 AND (
                owner = ANY($1::text[])
                OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(channels::jsonb) AS ch WHERE ch = $2))
                AND (workspace_id = '' OR $4::text IS NULL OR workspace_id = $4)"
        );
        let rows = self.conn().await?.query(&sql, &[&job.mentions, &job.channel, &job.sender, &job.audience]).await?;
        Ok(rows.iter().map(from_row).collect())
    }
}

fn from_row(r: &Row) -> Subscription {
    let channels: String = r.get(4);
    Subscription {
        endpoint: r.get(0),
        p256dh: r.get(1),
        auth: r.get(2),
        owner: r.get(3),
        channels: serde_json::from_str(&channels).unwrap_or_default(),
        user_agent: r.get::<_, Option<String>>(5).unwrap_or_default(),
        created_at: r.get::<_, Option<String>>(6).unwrap_or_default(),
        workspace_id: r.get(7),
        token_hash: r.get(8),
    }
}
