//! One registry across the hub processes on a shared database (replicas). Each process keeps
//! its own agents in its registry and writes them behind it: every `REPLICA_HEARTBEAT_MS`, one
//! statement carries its heartbeat and the agents changed since (marked in the registry), then
//! notes carry the presence and status events its observers got ([`Outbox`]) to the other
//! processes' observers. A listing adds the other processes' agents, read from the store. A
//! process silent for `REPLICA_TIMEOUT_MS` is dead: its agents leave every listing at once, and
//! the first live process to reap it announces them gone. Each event names the process that
//! held the agent, so the late `disconnected` of a process that lost the agent to another is
//! not passed on. Without peers (SQLite) nothing here runs, and a listing reads the registry
//! alone.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::state::registry::{Agent, AgentInfo, Inner};
use crate::hub::store::peers::{PeerNote, PresenceEvent};
use crate::hub::store::presence::{AgentRow, Dropped, PresenceChanges};
use crate::protocol::{Frame, Kind};
use serde_json::Value;

/// Frames one note carries at most, in bytes (a `NOTIFY` payload stays under 8000).
const NOTE_BYTES: usize = 6000;

impl Inner {
    /// Marks `name` to be written again at the next flush, when there are other processes.
    pub fn mark_changed(&mut self, name: &str) {
        if let Some(c) = &mut self.changed {
            c.insert(name.to_string());
        }
    }

    /// An agent to change in place (marked for the next flush).
    pub fn agent_mut(&mut self, name: &str) -> Option<&mut Agent> {
        self.mark_changed(name);
        self.agents.get_mut(name)
    }

    fn take_changed(&mut self) -> HashSet<String> {
        self.changed.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

/// Starts writing this process's agents for the others, when the store has others.
pub fn start(st: &Arc<HubState>) -> Option<tokio::task::JoinHandle<()>> {
    if !st.store.shared() {
        return None;
    }
    st.registry.write().changed = Some(HashSet::new());
    st.registry.outbox.start(st.store.replica());
    Some(tokio::spawn(run(st.clone())))
}

async fn run(st: Arc<HubState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(st.config.replica_heartbeat_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopped = st.shutdown.clone();
    let mut known = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
        known = flush(&st, known).await;
        reap(&st).await;
    }
    if let Err(e) = st.store.leave_fleet().await {
        tracing::warn!(error = %e, "cannot tell the other hubs that this one stops");
    }
}

/// Writes the heartbeat and the changed agents, then tells the events; returns whether the
/// store knows this process now.
async fn flush(st: &HubState, known: bool) -> bool {
    // Events first: each was offered after its agent was marked, so its row goes out with it.
    let events = st.registry.outbox.take();
    let names = st.registry.write().take_changed();
    match st.store.publish_presence(changes(st, &names)).await {
        Ok(new) if new && known => back_from_the_dead(st),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, dropped_events = events.len(), "cannot write this hub's agents for the others");
            let mut inner = st.registry.write();
            names.iter().for_each(|n| inner.mark_changed(n));
            return known;
        }
    }
    for note in notes(events) {
        if let Err(e) = st.store.tell_peers(note).await {
            tracing::warn!(error = %e, "cannot tell the other hubs of presence events");
        }
    }
    true
}

/// The others took this process for dead (it was silent too long) and announced its agents
/// gone: the next flush writes them all again and tells the others they are connected.
fn back_from_the_dead(st: &HubState) {
    tracing::warn!("the other hubs took this one for dead; writing all its agents again");
    let mut inner = st.registry.write();
    let all: Vec<(String, Value)> = inner.agents.values().map(|a| (a.info.name.clone(), a.info.connected_event())).collect();
    for (name, event) in all {
        inner.mark_changed(&name);
        st.registry.outbox.offer(&Frame::server(Kind::PresenceChange, event));
    }
}

/// The rows of the changed names: written when the agent is here, let go when it is not.
fn changes(st: &HubState, names: &HashSet<String>) -> PresenceChanges {
    let inner = st.registry.read();
    let mut out = PresenceChanges::default();
    for name in names {
        match inner.agents.get(name) {
            Some(a) => {
                let mut info = a.info.clone();
                // Health records travel on their own (`PeerNote::Health`).
                info.health = None;
                let info = serde_json::to_string(&info).expect("agent info serializes");
                out.rows.push(AgentRow { name: name.clone(), workspace: a.info.workspace_id.clone(), info });
            }
            None => out.gone.push(name.clone()),
        }
    }
    out
}

/// Events in notes of at most [`NOTE_BYTES`]; an event larger than a note alone is left out.
fn notes(events: Vec<PresenceEvent>) -> Vec<PeerNote> {
    let mut notes = Vec::new();
    let (mut part, mut size) = (Vec::new(), 0);
    for e in events {
        // As it travels: the frame is a JSON string inside the note, its quotes escaped.
        let len = serde_json::to_string(&e).map_or(usize::MAX, |j| j.len()) + 1;
        if len > NOTE_BYTES {
            tracing::warn!(agent = %e.agent, bytes = len, "an event too large for the other hubs; their observers miss it");
            continue;
        }
        if size + len > NOTE_BYTES {
            notes.push(PeerNote::Presence { events: std::mem::take(&mut part) });
            size = 0;
        }
        part.push(e);
        size += len;
    }
    if !part.is_empty() {
        notes.push(PeerNote::Presence { events: part });
    }
    notes
}

/// Deletes the processes found dead; their agents no live process holds are announced gone
/// here (and so to the others' observers at the next flush), with their pending permission
/// requests now counting down here.
async fn reap(st: &Arc<HubState>) {
    let dropped = match st.store.reap_replicas(st.config.replica_timeout_ms).await {
        Ok(d) if d.is_empty() => return,
        Ok(d) => d,
        Err(e) => return tracing::warn!(error = %e, "cannot look for dead hubs"),
    };
    let dropped: Vec<Dropped> = {
        let inner = st.registry.read();
        dropped.into_iter().filter(|d| !inner.agents.contains_key(&d.name)).collect()
    };
    tracing::info!(agents = dropped.len(), "a hub on the database stopped answering; its agents are gone");
    let names: Vec<String> = dropped.iter().map(|d| d.name.clone()).collect();
    st.adopt_pending_permissions(&names).await;
    for d in dropped {
        st.permissions.agent_left(&d.name);
        let frame = disconnected(&d.name);
        st.registry.to_local_observers(&frame.to_json(), &st.metrics);
        st.registry.outbox.offer_for(&d.replica, &frame);
    }
}

/// The `presence_change` observers get when an agent leaves.
pub fn disconnected(name: &str) -> Frame {
    Frame::server(Kind::PresenceChange, serde_json::json!({"agent": name, "event": "disconnected"}))
}

/// Events another process's observers got: passed to this one's, except about agents held
/// here (this process's own events about them are the true ones). An agent that connected
/// there is back: its permission requests' grace period here ends.
pub fn heard(st: &HubState, events: Vec<PresenceEvent>) {
    for e in events {
        if st.registry.read().agents.contains_key(&e.agent) {
            continue;
        }
        let event: Value = serde_json::from_str(&e.frame).unwrap_or_default();
        let presence = (event["type"] == Kind::PresenceChange.as_str()).then(|| event["payload"]["event"].as_str()).flatten();
        if !st.registry.outbox.current(&e, presence) {
            continue;
        }
        if presence == Some("connected") {
            st.permissions.agent_back(&e.agent);
        }
        st.registry.to_local_observers(&e.frame, &st.metrics);
    }
}

/// Every agent `who` may see, by name: this process's and, with others, theirs.
pub async fn listing(st: &HubState, who: &Principal) -> Vec<AgentInfo> {
    let mut out: BTreeMap<String, AgentInfo> = {
        let inner = st.registry.read();
        inner.agents.values().filter(|a| sees(who, &a.info.workspace_id)).map(|a| (a.info.name.clone(), inner.view(a))).collect()
    };
    for a in remote(st, who).await {
        out.insert(a.name.clone(), a);
    }
    out.into_values().collect()
}

/// The other processes' agents `who` may see, each name once (its newest registration), none
/// that is held here. Empty without others, or when the store does not answer (logged).
pub async fn remote(st: &HubState, who: &Principal) -> Vec<AgentInfo> {
    if !st.store.shared() {
        return Vec::new();
    }
    let rows = match st.store.fleet_agents(st.config.replica_timeout_ms).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the other hubs' agents; listing this hub's alone");
            return Vec::new();
        }
    };
    let inner = st.registry.read();
    let mut out: BTreeMap<String, AgentInfo> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| sees(who, &r.workspace) && !inner.agents.contains_key(&r.name)) {
        let Ok(mut info) = serde_json::from_str::<AgentInfo>(&row.info) else { continue };
        if out.get(&row.name).is_some_and(|held| held.registered_at >= info.registered_at) {
            continue;
        }
        info.health = inner.health.get(&(row.workspace, row.name.clone())).cloned();
        out.insert(row.name, info);
    }
    out.into_values().collect()
}

fn sees(who: &Principal, workspace: &str) -> bool {
    *who == Principal::Admin || workspace == who.workspace_id()
}
