//! Reactions: one row per (message, emoji, reactor). Reacting again with the same emoji removes
//! it (toggle), so a client needs no separate "unreact". Observers get `reaction_update`.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value, json};

use super::HubState;
use super::auth::Principal;
use super::store::{Store, StoreError, reader_scope};
use crate::protocol::{ErrorCode, Frame, FrameError, now_ts};

/// emoji -> reactors, sorted.
pub type Reactions = BTreeMap<String, Vec<String>>;

/// What a toggle did.
pub struct Toggled {
    pub action: &'static str,
    pub channel: String,
    pub reactions: Reactions,
}

fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::InvalidFrame, detail)
}

/// `message_id` as a string; integers are accepted too (the reference's ids were numbers).
pub fn message_id(p: &Map<String, Value>) -> Result<String, FrameError> {
    match p.get("message_id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.to_string()),
        _ => Err(invalid("payload.message_id must be a message id (non-empty string, at most 128 bytes)")),
    }
}

/// An emoji: 1-16 characters (sequences with joiners are several), no spaces or controls.
pub fn emoji(p: &Map<String, Value>) -> Result<String, FrameError> {
    match p.get("emoji") {
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= 16 && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(s.clone())
        }
        _ => Err(invalid("payload.emoji must be one emoji (1-16 characters, no spaces)")),
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

impl HubState {
    /// Adds the reaction, or removes it when `reactor` already gave it; tells observers. A
    /// message `by` may not read is not found.
    pub async fn toggle_reaction(&self, by: &Principal, message_id: String, emoji: String, reactor: String) -> Result<Toggled, FrameError> {
        let (id, e, who, scope) = (message_id.clone(), emoji.clone(), reactor.clone(), reader_scope(by));
        let done = self
            .store
            .write(move |c| {
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
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let toggled = done.ok_or_else(|| FrameError::new(ErrorCode::NotFound, format!("no message with id {message_id:?}")))?;
        let event = json!({"message_id": message_id, "emoji": emoji, "reactor": reactor,
            "action": toggled.action, "channel": toggled.channel});
        self.registry.to_observers(&Frame::new("reaction_update", &reactor, event), &self.metrics);
        Ok(toggled)
    }
}

/// Reactions of the given messages that `reader` may read; messages without any are left out.
pub async fn of_messages(store: &Store, reader: &Principal, ids: Vec<String>) -> Result<BTreeMap<String, Reactions>, StoreError> {
    let scope = reader_scope(reader);
    store
        .read(move |c| {
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
