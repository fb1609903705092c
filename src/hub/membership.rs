//! Channel membership that outlives a connection: what `subscribe`, `register.channels` and
//! `POST /api/channels/{channel}/members` remember, applied at the agent's next register.

use super::store::{Store, StoreError};

pub async fn saved(store: &Store, agent: &str) -> Result<Vec<String>, StoreError> {
    let agent = agent.to_string();
    store
        .read(move |c| {
            c.prepare_cached("SELECT channel FROM channel_members WHERE agent = ?1")?
                .query_map([agent], |r| r.get::<_, String>(0))?
                .collect()
        })
        .await
}

/// Remembers (`join`) or forgets the agent's channels, in one transaction.
pub async fn persist(store: &Store, agent: &str, channels: Vec<String>, join: bool) -> Result<(), StoreError> {
    let agent = agent.to_string();
    store
        .write(move |c| {
            let tx = c.transaction()?;
            for ch in &channels {
                if join {
                    tx.execute("INSERT OR IGNORE INTO channel_members (agent, channel) VALUES (?1, ?2)", [&agent, ch])?;
                } else {
                    tx.execute("DELETE FROM channel_members WHERE agent = ?1 AND channel = ?2", [&agent, ch])?;
                }
            }
            tx.commit()
        })
        .await
}
