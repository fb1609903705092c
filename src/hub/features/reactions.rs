//! Reactions: one row per (message, emoji, reactor). Reacting again with the same emoji removes
//! it (toggle), so a client needs no separate "unreact". Observers get `reaction_update`.

use serde_json::json;

use crate::hub::HubState;
use crate::hub::state::auth::Principal;
pub use crate::hub::store::domain::{Reactions, Toggled};
use crate::hub::store::reader_scope;
use crate::protocol::{ErrorCode, Frame, FrameError, Kind};


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
        self.registry.to_observers(&Frame::new(Kind::ReactionUpdate, &reactor, event), &self.metrics);
        Ok(toggled)
    }
}

