//! Remembered channel membership changes, applied by the writer inside the transaction of the
//! message batch they arrive with, so a burst of registrations shares one commit.

use rusqlite::Transaction;

use async_trait::async_trait;

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::Membership;
use crate::hub::store::message::MembershipChange;

#[async_trait]
impl Membership for SqliteStore {
    async fn change_membership(&self, change: MembershipChange) -> Result<(), StoreError> {
        self.queue_membership(change).await
    }

    async fn saved_channels(&self, agent: String) -> Result<Vec<String>, StoreError> {
        self.lookup(|c| c.prepare_cached("SELECT channel FROM channel_members WHERE agent = ?1")?.query_map([agent], |r| r.get::<_, String>(0))?.collect())
    }

    async fn channel_members(&self, channel: String) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT agent FROM channel_members WHERE channel = ?1 ORDER BY agent")?
                .query_map([channel], |r| r.get::<_, String>(0))?
                .collect()
        })
        .await
    }
}

/// Applies a change inside the writer's batch transaction.
pub(super) fn apply(tx: &Transaction<'_>, change: &MembershipChange) -> rusqlite::Result<()> {
    let sql = if change.join {
        "INSERT OR IGNORE INTO channel_members (agent, channel) VALUES (?1, ?2)"
    } else {
        "DELETE FROM channel_members WHERE agent = ?1 AND channel = ?2"
    };
    let mut stmt = tx.prepare_cached(sql)?;
    for ch in &change.channels {
        stmt.execute([&change.agent, ch])?;
    }
    Ok(())
}
