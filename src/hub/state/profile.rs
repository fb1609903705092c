//! The agent-bridge frames: `react`, `health`, `task_update` and `subagents_update`. Each needs
//! a registered socket (the reactor, reporter or subject is the socket's own agent) and is
//! acked with extra keys describing what changed.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::features::health::HealthUpdate;
use crate::hub::state::auth::Principal;
use crate::protocol::payload::Subagent;
use crate::protocol::{ErrorCode, Frame, FrameError, Kind};

/// The ack's extra keys.
fn extra(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `react`: toggles `emoji` of `name` on the message.
pub async fn react(st: &Arc<HubState>, principal: &Principal, name: &str, id: String, emoji: String) -> Result<Map<String, Value>, FrameError> {
    let t = st.toggle_reaction(principal, id.clone(), emoji.clone(), name.to_string()).await?;
    Ok(extra(json!({"action": t.action, "message_id": id, "emoji": emoji, "channel": t.channel, "reactions": t.reactions})))
}

/// `health`: a report about `name` itself, or about the agent the payload names.
pub async fn health(st: &Arc<HubState>, principal: &Principal, name: &str, payload: &Map<String, Value>) -> Result<Map<String, Value>, FrameError> {
    let update = HealthUpdate::parse(payload, Some(name))?;
    let mut out = json!({"agent": update.agent.clone()});
    crate::hub::features::health::merge(&mut out, &st.record_health(principal.workspace_id(), update).await?);
    Ok(extra(out))
}

/// `task_update`.
pub fn task(st: &HubState, name: &str, task: String) -> Result<Map<String, Value>, FrameError> {
    update(st, name, |i| i.current_task = task.clone())?;
    Ok(extra(json!({"task": task})))
}

/// `subagents_update`: the full list (`[]` clears it).
pub fn subagents(st: &HubState, name: &str, list: Vec<Subagent>) -> Result<Map<String, Value>, FrameError> {
    let count = list.len();
    update(st, name, |i| {
        i.subagent_count = count as i64;
        i.subagents = list;
    })?;
    Ok(extra(json!({"subagent_count": count})))
}

/// Changes the agent's registry entry and sends observers its `status_update`.
fn update(st: &HubState, name: &str, change: impl FnOnce(&mut crate::hub::state::registry::AgentInfo)) -> Result<(), FrameError> {
    let event = {
        let mut inner = st.registry.write();
        let a = inner.agent_mut(name).ok_or_else(|| FrameError::new(ErrorCode::NotRegistered, "send register first"))?;
        change(&mut a.info);
        a.touch();
        a.info.status_event()
    };
    st.registry.to_observers(&Frame::new(Kind::StatusUpdate, name, event), &st.metrics);
    Ok(())
}
