//! Channel membership that outlives a connection: what `subscribe`, `register.channels` and
//! `POST /api/channels/{channel}/members` remember, applied at the agent's next register.

use super::store::{MembershipChange, Store, StoreError};

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

/// Agents remembered as members of `channel`, connected or not.
pub async fn members(store: &Store, channel: &str) -> Result<Vec<String>, StoreError> {
    let channel = channel.to_string();
    store
        .read(move |c| {
            c.prepare_cached("SELECT agent FROM channel_members WHERE channel = ?1 ORDER BY agent")?
                .query_map([channel], |r| r.get::<_, String>(0))?
                .collect()
        })
        .await
}

/// Remembers (`join`) or forgets the agent's channels; committed with the writer's next batch.
pub async fn persist(store: &Store, agent: &str, channels: Vec<String>, join: bool) -> Result<(), StoreError> {
    store.change_membership(MembershipChange { agent: agent.to_string(), channels, join }).await
}
