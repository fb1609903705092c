//! Reactions: one row per (message, emoji, reactor). Reacting again with the same emoji removes
//! it (toggle), so a client needs no separate "unreact". Observers get `reaction_update`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::store::reader_scope;
use crate::protocol::{ErrorCode, Frame, FrameError};

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

impl HubState {
    /// Adds the reaction, or removes it when `reactor` already gave it; tells observers. A
    /// message `by` may not read is not found.
    pub async fn toggle_reaction(&self, by: &Principal, message_id: String, emoji: String, reactor: String) -> Result<Toggled, FrameError> {
        let done = self
            .store
            .toggle_reaction(message_id.clone(), emoji.clone(), reactor.clone(), reader_scope(by))
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let toggled = done.ok_or_else(|| FrameError::new(ErrorCode::NotFound, format!("no message with id {message_id:?}")))?;
        let event = json!({"message_id": message_id, "emoji": emoji, "reactor": reactor,
            "action": toggled.action, "channel": toggled.channel});
        self.registry.to_observers(&Frame::new("reaction_update", &reactor, event), &self.metrics);
        Ok(toggled)
    }
}

