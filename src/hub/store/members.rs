//! Remembered channel membership changes, applied by the writer inside the transaction of the
//! message batch they arrive with, so a burst of registrations shares one commit.

use rusqlite::Transaction;

use super::{Store, StoreError};

impl Store {
    /// The channels an agent is remembered in (applied at its next register).
    pub async fn saved_channels(&self, agent: String) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT channel FROM channel_members WHERE agent = ?1")?
                .query_map([agent], |r| r.get::<_, String>(0))?
                .collect()
        })
        .await
    }

    /// Agents remembered as members of `channel`, connected or not.
    pub async fn channel_members(&self, channel: String) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            c.prepare_cached("SELECT agent FROM channel_members WHERE channel = ?1 ORDER BY agent")?
                .query_map([channel], |r| r.get::<_, String>(0))?
                .collect()
        })
        .await
    }
}

/// Remember (`join`) or forget the agent's channels.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    pub agent: String,
    pub channels: Vec<String>,
    pub join: bool,
}

impl MembershipChange {
    pub(super) fn apply(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let sql = if self.join {
            "INSERT OR IGNORE INTO channel_members (agent, channel) VALUES (?1, ?2)"
        } else {
            "DELETE FROM channel_members WHERE agent = ?1 AND channel = ?2"
        };
        let mut stmt = tx.prepare_cached(sql)?;
        for ch in &self.channels {
            stmt.execute([&self.agent, ch])?;
        }
        Ok(())
    }
}
