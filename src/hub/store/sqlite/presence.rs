//! One process owns a SQLite database: its registry lists every agent, so there is nothing to
//! write and nobody else to list.

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::backend::Presence;
use crate::hub::store::error::StoreError;
use crate::hub::store::presence::{AgentRow, Dropped, PresenceChanges};

#[async_trait]
impl Presence for SqliteStore {
    async fn publish_presence(&self, _: PresenceChanges) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn fleet_agents(&self, _: u64) -> Result<Vec<AgentRow>, StoreError> {
        Ok(Vec::new())
    }

    async fn reap_replicas(&self, _: u64) -> Result<Vec<Dropped>, StoreError> {
        Ok(Vec::new())
    }

    async fn leave_fleet(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
