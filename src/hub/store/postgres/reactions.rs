//! The `reactions` table: one row per (message, emoji, reactor), readable only with its message.

use std::collections::BTreeMap;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::PgStore;
use crate::hub::features::reactions::{Reactions, Toggled};
use crate::hub::state::auth::Principal;
use crate::hub::store::StoreError;
use crate::hub::store::backend::MessageReactions;
use crate::hub::store::message::reader_scope;
use crate::protocol::now_ts;

#[async_trait]
impl MessageReactions for PgStore {
    async fn toggle_reaction(&self, id: String, e: String, who: String, scope: Option<String>) -> Result<Option<Toggled>, StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let channel = tx
            .query_opt(
                "SELECT channel FROM messages WHERE msg_id = $1 AND ($2::text IS NULL OR audience IS NULL OR audience = $2) LIMIT 1",
                &[&id, &scope],
            )
            .await?;
        let Some(channel) = channel.map(|r| r.get::<_, String>(0)) else { return Ok(None) };
        let removed = tx.execute("DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND reactor = $3", &[&id, &e, &who]).await?;
        if removed == 0 {
            tx.execute(
                "INSERT INTO reactions (message_id, emoji, reactor, ts) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&id, &e, &who, &now_ts()],
            )
            .await?;
        }
        let reactions = for_message(&tx, &id).await?;
        tx.commit().await?;
        Ok(Some(Toggled { action: if removed == 0 { "add" } else { "remove" }, channel, reactions }))
    }

    async fn reactions_of(&self, reader: &Principal, ids: Vec<String>) -> Result<BTreeMap<String, Reactions>, StoreError> {
        let scope = reader_scope(reader);
        let c = self.conn().await?;
        let visible = c.prepare_cached("SELECT 1 FROM messages WHERE msg_id = $1 AND (audience IS NULL OR audience = $2) LIMIT 1").await?;
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(w) = &scope
                && c.query_opt(&visible, &[&id, w]).await?.is_none()
            {
                continue;
            }
            let r = for_message(&c, &id).await?;
            if !r.is_empty() {
                out.insert(id, r);
            }
        }
        Ok(out)
    }
}

async fn for_message(c: &impl GenericClient, id: &str) -> Result<Reactions, StoreError> {
    let stmt = c.prepare_cached("SELECT emoji, reactor FROM reactions WHERE message_id = $1 ORDER BY emoji, reactor").await?;
    let mut out = Reactions::new();
    for r in c.query(&stmt, &[&id]).await? {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(out)
}
