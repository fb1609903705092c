//! Small tables of the hub's features: uploaded media's owners and agents' health records.

use std::collections::HashMap;

use rusqlite::params;

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::{HealthRecords, MediaFiles};
use crate::hub::store::domain::HealthRecord;
use crate::protocol::now_ts;

#[async_trait]
impl MediaFiles for SqliteStore {
    async fn record_media(&self, path: String, workspace: String) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute("INSERT INTO media_files (path, workspace_id, created_at) VALUES (?1, ?2, ?3)", params![path, workspace, now_ts()])
        })
        .await
        .map(drop)
    }

    async fn media_owned_by(&self, path: String, workspace: String) -> Result<bool, StoreError> {
        self.read(move |c| c.prepare_cached("SELECT 1 FROM media_files WHERE path = ?1 AND workspace_id = ?2")?.exists([path, workspace]))
            .await
    }

}

#[async_trait]
impl HealthRecords for SqliteStore {
    async fn save_health(&self, workspace: String, agent: String, r: HealthRecord) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "INSERT OR REPLACE INTO agent_health (workspace_id, agent, state, reason, source, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![workspace, agent, r.state, r.reason, r.source, r.ts],
            )
        })
        .await
        .map(drop)
    }

    async fn health_records(&self) -> Result<HashMap<(String, String), HealthRecord>, StoreError> {
        self.read(|c| {
            c.prepare("SELECT workspace_id, agent, state, reason, source, ts FROM agent_health")?
                .query_map([], |r| {
                    let record = HealthRecord { state: r.get(2)?, reason: r.get(3)?, source: r.get(4)?, ts: r.get(5)? };
                    Ok(((r.get(0)?, r.get(1)?), record))
                })?
                .collect()
        })
        .await
    }
}
