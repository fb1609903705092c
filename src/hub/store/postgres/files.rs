//! Small tables of the hub's features: uploaded media's owners and agents' health records.

use std::collections::HashMap;

use async_trait::async_trait;

use super::PgStore;
use crate::hub::features::health::HealthRecord;
use crate::hub::store::StoreError;
use crate::hub::store::backend::{HealthRecords, MediaFiles};
use crate::protocol::now_ts;

#[async_trait]
impl MediaFiles for PgStore {
    async fn record_media(&self, path: String, workspace: String) -> Result<(), StoreError> {
        self.conn()
            .await?
            .execute("INSERT INTO media_files (path, workspace_id, created_at) VALUES ($1, $2, $3)", &[&path, &workspace, &now_ts()])
            .await?;
        Ok(())
    }

    async fn media_owned_by(&self, path: String, workspace: String) -> Result<bool, StoreError> {
        let row = self.conn().await?.query_opt("SELECT 1 FROM media_files WHERE path = $1 AND workspace_id = $2", &[&path, &workspace]).await?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl HealthRecords for PgStore {
    async fn save_health(&self, workspace: String, agent: String, r: HealthRecord) -> Result<(), StoreError> {
        self.conn()
            .await?
            .execute(
                "INSERT INTO agent_health (workspace_id, agent, state, reason, source, ts) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (workspace_id, agent) DO UPDATE SET state = excluded.state, reason = excluded.reason,
                     source = excluded.source, ts = excluded.ts",
                &[&workspace, &agent, &r.state, &r.reason, &r.source, &r.ts],
            )
            .await?;
        Ok(())
    }

    async fn health_records(&self) -> Result<HashMap<(String, String), HealthRecord>, StoreError> {
        let rows = self.conn().await?.query("SELECT workspace_id, agent, state, reason, source, ts FROM agent_health", &[]).await?;
        Ok(rows
            .iter()
            .map(|r| ((r.get(0), r.get(1)), HealthRecord { state: r.get(2), reason: r.get(3), source: r.get(4), ts: r.get(5) }))
            .collect())
    }
}
