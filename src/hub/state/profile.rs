//! The agent-bridge frames: `react`, `health`, `task_update` and `subagents_update`. Each needs
//! a registered socket (the reactor, reporter or subject is the socket's own agent) and is
//! acked with extra keys describing what changed.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::pipeline::payload::str_max;
use crate::hub::state::auth::Principal;
use crate::hub::features::health::HealthUpdate;
use crate::hub::features::reactions;
use crate::protocol::{ErrorCode, Frame, FrameError};

/// Frame types handled here.
pub const KINDS: &[&str] = &["react", "health", "task_update", "subagents_update"];

use crate::protocol::limits::MAX_TASK_CHARS as MAX_TASK;
/// Most subagents one agent lists.
pub const MAX_SUBAGENTS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subagent {
    pub name: String,
    pub task: String,
    pub status: String,
}

fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::InvalidFrame, detail)
}

fn short(v: Option<&Value>, key: &str, max: usize) -> Result<String, FrameError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => Ok(s.clone()),
        _ => Err(invalid(format!("{key} must be a string of at most {max} printable characters"))),
    }
}

/// `payload.subagents`: `None` when absent, else the full list `[{name, task?, status?}]`.
pub fn subagents(p: &Map<String, Value>) -> Result<Option<Vec<Subagent>>, FrameError> {
    let items = match p.get("subagents") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.len() <= MAX_SUBAGENTS => items,
        Some(_) => return Err(invalid(format!("payload.subagents must be a list of at most {MAX_SUBAGENTS} objects"))),
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(o) = item else { return Err(invalid("each subagent must be an object {name, task, status}")) };
            let name = short(o.get("name"), "subagent name", 128)?;
            if name.is_empty() {
                return Err(invalid("each subagent needs a non-empty name"));
            }
            Ok(Subagent { name, task: short(o.get("task"), "subagent task", MAX_TASK)?, status: short(o.get("status"), "subagent status", 32)? })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Handles one of [`KINDS`] for the registered agent `name`; returns the ack's extra keys.
pub async fn handle(st: &Arc<HubState>, principal: &Principal, name: &str, frame: &Frame) -> Result<Map<String, Value>, FrameError> {
    let p = &frame.payload;
    let extra = match frame.kind.as_str() {
        "react" => {
            let (id, emoji) = (reactions::message_id(p)?, reactions::emoji(p)?);
            let t = st.toggle_reaction(principal, id.clone(), emoji.clone(), name.to_string()).await?;
            json!({"action": t.action, "message_id": id, "emoji": emoji, "channel": t.channel, "reactions": t.reactions})
        }
        "health" => {
            let update = HealthUpdate::parse(p, Some(name))?;
            let agent = update.agent.clone();
            let mut out = json!({"agent": agent});
            crate::hub::features::health::merge(&mut out, &st.record_health(principal.workspace_id(), update).await?);
            out
        }
        "task_update" => {
            let task = str_max(p, "task", MAX_TASK)?.or(str_max(p, "current_task", MAX_TASK)?).unwrap_or_default();
            if task.chars().any(char::is_control) {
                return Err(invalid("payload.task must be printable characters"));
            }
            update(st, name, |i| i.current_task = task.clone())?;
            json!({"task": task})
        }
        _ => {
            let list = subagents(p)?.ok_or_else(|| invalid("payload.subagents is required (a list; [] clears it)"))?;
            let count = list.len();
            update(st, name, |i| {
                i.subagent_count = count as i64;
                i.subagents = list;
            })?;
            json!({"subagent_count": count})
        }
    };
    Ok(match extra {
        Value::Object(m) => m,
        _ => Map::new(),
    })
}

/// Changes the agent's registry entry and sends observers its `status_update`.
fn update(st: &HubState, name: &str, change: impl FnOnce(&mut crate::hub::state::registry::AgentInfo)) -> Result<(), FrameError> {
    let event = {
        let mut inner = st.registry.write();
        let a = inner.agents.get_mut(name).ok_or_else(|| FrameError::new(ErrorCode::NotRegistered, "send register first"))?;
        change(&mut a.info);
        a.touch();
        a.info.status_event()
    };
    st.registry.to_observers(&Frame::new("status_update", name, event), &st.metrics);
    Ok(())
}
