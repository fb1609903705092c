//! Other hub processes on the same database (replicas): what they committed reaches this
//! process as [`PeerRow`]s in each channel's `seq` order, and what they say as [`PeerNote`]s.
//! A backend whose database one process owns (SQLite) has no peers.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::domain::HealthRecord;
use super::message::{Audience, HistoryRow};

/// A message another process committed, as this process delivers it live.
#[derive(Debug, Clone)]
pub struct PeerRow {
    pub row: HistoryRow,
    pub audience: Audience,
    /// Inbox rows still waiting for this message: `(agent, inbox row id)`. A live frame that
    /// reaches the agent here ends its wait, as it would on the committing process.
    pub waiting: Vec<(String, i64)>,
}

/// What one process tells the others (besides its commits, which the store announces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum PeerNote {
    /// `name` registered on the telling process within `workspace`: an older holder of the
    /// name elsewhere is closed (4000), as on one hub. Older: its own note came first.
    Registered { workspace: String, name: String },
    /// Names were claimed or released: cached claims are read again.
    NamesChanged,
    /// Presence and status events of agents, in order, as the telling process's observers
    /// got them.
    Presence { events: Vec<PresenceEvent> },
    /// A health record was saved there.
    Health { workspace: String, agent: String, record: HealthRecord },
    /// Permission request `id` changed there (`event`: `requested`, `answered`, `expired`).
    Permission { event: String, id: String },
}

/// One presence or status event of `agent`, which the process `holder` holds (held: the
/// event is about its own agent, or about an agent of a dead process it announces gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEvent {
    pub holder: String,
    pub agent: String,
    pub frame: String,
}

/// Where a store hands what its peers committed and said. Called from the store's tasks: a
/// sink must not wait.
pub trait PeerSink: Send + Sync {
    /// The next row of its channel: every row before it was handed over (or was this
    /// process's own) first.
    fn row(&self, row: PeerRow);

    /// A note, in the order the database committed them; `mine` for this process's own
    /// (heard too, so a sink can tell what came before and after them).
    fn note(&self, note: PeerNote, mine: bool);
}

pub type Sink = Arc<dyn PeerSink>;
