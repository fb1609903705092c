//! The `reactions` table: one row per (message, emoji, reactor), readable only with its message.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::hub::store::error::StoreError;
use crate::hub::store::backend::MessageReactions;
use crate::hub::store::message::reader_scope;
use crate::hub::store::domain::Principal;
use crate::hub::store::domain::{Reactions, Toggled};
use crate::protocol::now_ts;

#[async_trait]
impl MessageReactions for SqliteStore {
    async fn toggle_reaction(&self, id: String, e: String, who: String, scope: Option<String>) -> Result<Option<Toggled>, StoreError> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let channel: Option<String> = tx
                .query_row(
                    "SELECT channel FROM messages WHERE msg_id = ?1
                       AND (?2 IS NULL OR audience IS NULL OR audience = ?2) LIMIT 1",
                    params![id, scope],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(channel) = channel else { return Ok(None) };
            let removed = tx.execute(
                "DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND reactor = ?3",
                params![id, e, who],
            )?;
            if removed == 0 {
                tx.execute(
                    "INSERT INTO reactions (message_id, emoji, reactor, ts) VALUES (?1, ?2, ?3, ?4)",
                    params![id, e, who, now_ts()],
                )?;
            }
            let reactions = for_message(&tx, &id)?;
            tx.commit()?;
            Ok(Some(Toggled { action: if removed == 0 { "add" } else { "remove" }, channel, reactions }))
        })
        .await
    }

    async fn reactions_of(&self, reader: &Principal, ids: Vec<String>) -> Result<BTreeMap<String, Reactions>, StoreError> {
        let scope = reader_scope(reader);
        self.read(move |c| {
            let mut out = BTreeMap::new();
            let mut visible = c.prepare_cached(
                "SELECT 1 FROM messages WHERE msg_id = ?1 AND (audience IS NULL OR audience = ?2)",
            )?;
            for id in ids {
                if let Some(w) = &scope
                    && !visible.exists(params![id, w])?
                {
                    continue;
                }
                let r = for_message(c, &id)?;
                if !r.is_empty() {
                    out.insert(id, r);
                }
            }
            Ok(out)
        })
        .await
    }
}

fn for_message(c: &rusqlite::Connection, id: &str) -> rusqlite::Result<Reactions> {
    let mut out = Reactions::new();
    let mut stmt = c.prepare_cached("SELECT emoji, reactor FROM reactions WHERE message_id = ?1 ORDER BY emoji, reactor")?;
    for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
        let (emoji, reactor) = row?;
        out.entry(emoji).or_default().push(reactor);
    }
    Ok(out)
}
