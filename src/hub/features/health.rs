//! Per-agent health records: the latest state a monitor (or the agent itself) reported, kept
//! per (workspace, agent) in the store and in the registry, shown in `/api/agents` and sent to
//! observers as `health_update`, here and on the other hub processes of a shared database.
//! Records outlive connections: "dead" and "ghost" are usually said about agents that are gone.

pub use crate::hub::store::domain::HealthRecord;
use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::state::names;
use crate::hub::store::peers::PeerNote;
use crate::protocol::payload::{opt_str, str_max};
use crate::protocol::{ErrorCode, Frame, FrameError, Kind, now_ts};

/// The states a record may carry.
pub const STATES: &[&str] = &["healthy", "idle", "stale", "stuck_prompt", "dead", "ghost", "remediating"];

/// Longest `reason` kept, in characters.
const MAX_REASON: usize = 500;
/// Longest `source`, in characters (an agent name or a monitor's label).
const MAX_SOURCE: usize = 128;


/// A checked health report: which agent, and what about it.
pub struct HealthUpdate {
    pub agent: String,
    pub record: HealthRecord,
}

fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::InvalidFrame, detail)
}

impl HealthUpdate {
    /// Reads `{agent?, state, reason?, source?}`; `agent` defaults to `reporter`, `source` too.
    pub fn parse(p: &Map<String, Value>, reporter: Option<&str>) -> Result<HealthUpdate, FrameError> {
        let agent = match (opt_str(p, "agent")?.filter(|a| !a.is_empty()), reporter) {
            (Some(a), _) => a,
            (None, Some(r)) => r.to_string(),
            (None, None) => return Err(invalid("payload.agent is required")),
        };
        names::check(&agent)?;
        let state = opt_str(p, "state")?.or(opt_str(p, "status")?).unwrap_or_default();
        if !STATES.contains(&state.as_str()) {
            return Err(invalid(format!("payload.state must be one of {}", STATES.join(", "))));
        }
        let reason = str_max(p, "reason", MAX_REASON)?.unwrap_or_default();
        let source = str_max(p, "source", MAX_SOURCE)?.filter(|s| !s.is_empty()).or(reporter.map(String::from)).unwrap_or_default();
        if source.chars().any(char::is_control) {
            return Err(invalid("payload.source must be printable characters"));
        }
        Ok(HealthUpdate { agent, record: HealthRecord { state, reason, source, ts: now_ts() } })
    }
}

impl HubState {
    /// Stores the record, updates the registry and tells observers, and the other processes.
    pub async fn record_health(&self, workspace_id: &str, update: HealthUpdate) -> Result<HealthRecord, FrameError> {
        // A record is about a name of this workspace, never another's.
        self.names.check_for(workspace_id, &update.agent)?;
        self.store
            .save_health(workspace_id.to_string(), update.agent.clone(), update.record.clone())
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let HealthUpdate { agent, record } = update;
        self.health_heard(workspace_id.to_string(), agent.clone(), record.clone());
        let note = PeerNote::Health { workspace: workspace_id.to_string(), agent: agent.clone(), record: record.clone() };
        if let Err(e) = self.store.tell_peers(note).await {
            tracing::warn!(agent = %agent, error = %e, "cannot tell the other hubs of a health record");
        }
        Ok(record)
    }

    /// A record saved (here, or by another process): the registry keeps it, observers see it.
    pub fn health_heard(&self, workspace_id: String, agent: String, record: HealthRecord) {
        let mut event = json!({"agent": agent, "workspace_id": workspace_id});
        merge(&mut event, &record);
        self.registry.write().health.insert((workspace_id, agent), record);
        self.registry.to_observers(&Frame::server(Kind::HealthUpdate, event), &self.metrics);
    }
}

/// `target` gains the record's keys.
pub fn merge(target: &mut Value, record: &HealthRecord) {
    if let (Value::Object(t), Ok(Value::Object(r))) = (target, serde_json::to_value(record)) {
        t.extend(r);
    }
}


#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::arbitrary;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every report and every name is answered without panicking: a value, or an error a
        /// client can be told about.
        #[test]
        fn every_report_is_answered(p in arbitrary::payload()) {
            for reporter in [None, Some("reporter")] {
                if let Err(e) = HealthUpdate::parse(&p, reporter) {
                    prop_assert!(!e.detail.is_empty() && e.detail.len() < 1024, "{}", e.detail);
                }
            }
            for s in p.values().filter_map(Value::as_str) {
                if let Err(e) = names::check(s).map_err(FrameError::from) {
                    prop_assert!(!e.detail.is_empty() && e.detail.len() < 1024, "{}", e.detail);
                }
            }
        }
    }
}
