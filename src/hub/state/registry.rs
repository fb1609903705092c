//! Live state: registered agents, channel membership and observers. One `RwLock`: fan-out
//! takes the read side; register, subscribe and reaping take the write side briefly.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::hub::socket::conn::{Conn, close_code};
use crate::hub::features::health::HealthRecord;
use crate::hub::state::outbox::Outbox;
use crate::hub::state::machine_index::MachineIndex;
use crate::hub::state::metrics::Metrics;
use crate::protocol::now_ts;
use crate::protocol::payload::Subagent;

/// What `/api/agents` shows of an agent: the reference's 15 keys, then `subagents` and
/// `health` (filled from [`Inner::health`] when shown, see [`Inner::view`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentInfo {
    pub name: String,
    pub channels: BTreeSet<String>,
    pub machine: String,
    pub role: String,
    pub model: String,
    pub agent_id: String,
    pub project: String,
    pub multiplexer: String,
    pub status: String,
    pub current_task: String,
    pub subagent_count: i64,
    pub resources: Map<String, Value>,
    pub last_heartbeat: String,
    pub workspace_id: String,
    pub registered_at: String,
    pub subagents: Vec<Subagent>,
    pub health: Option<HealthRecord>,
}

impl AgentInfo {
    /// The `presence_change` payload observers get when the agent registers.
    pub fn connected_event(&self) -> Value {
        serde_json::json!({"agent": self.name, "event": "connected", "channels": self.channels, "agent_id": self.agent_id,
            "project": self.project})
    }

    /// The `status_update` event observers get when any of these fields change.
    pub fn status_event(&self) -> Value {
        serde_json::json!({"agent": self.name, "status": self.status, "current_task": self.current_task,
            "subagent_count": self.subagent_count, "machine": self.machine, "role": self.role,
            "agent_id": self.agent_id, "project": self.project, "subagents": self.subagents})
    }
}

pub struct Agent {
    pub conn: Arc<Conn>,
    pub info: AgentInfo,
    pub seen: Instant,
}

impl Agent {
    pub fn touch(&mut self) {
        self.seen = Instant::now();
        self.info.last_heartbeat = now_ts();
    }
}

#[derive(Default)]
pub struct Inner {
    /// Insert with [`Inner::insert_agent`] and remove with [`Inner::remove_agent`] (and change
    /// `info.machine` with [`Inner::set_machine`]), which keep `by_machine` in step.
    pub agents: HashMap<String, Agent>,
    /// Agents per non-empty machine, oldest first, so same-machine eviction at register looks
    /// only at agents that may be stale (even when every agent runs on one machine).
    by_machine: HashMap<String, MachineIndex>,
    pub channels: BTreeMap<String, BTreeSet<String>>,
    pub observers: HashMap<u64, Arc<Conn>>,
    /// Latest health record per (workspace id, agent name), connected or not; persisted.
    pub health: HashMap<(String, String), HealthRecord>,
    /// With other hub processes on the database: the agents to write again at the next flush
    /// (see `state::fleet`), marked by every change below and by `Inner::agent_mut`.
    pub(super) changed: Option<HashSet<String>>,
}

pub struct Registry {
    inner: RwLock<Inner>,
    /// The events other hub processes' observers get, when there are any.
    pub outbox: Outbox,
}

/// Who a message may reach: `None` reaches every workspace.
pub type Scope<'a> = Option<&'a str>;

/// The channel listed live even when empty; other channels leave the live list with their
/// last member.
const DEFAULT_CHANNEL: &str = "#general";

impl Default for Registry {
    fn default() -> Self {
        let mut inner = Inner::default();
        inner.channels.insert(DEFAULT_CHANNEL.into(), BTreeSet::new());
        Registry { inner: RwLock::new(inner), outbox: Outbox::default() }
    }
}

impl Registry {
    pub fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().expect("registry lock")
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().expect("registry lock")
    }

    /// Sends one serialized message frame to channel subscribers and @mentioned agents (never
    /// the sender, only within `scope`), and to every observer. Returns the number reached;
    /// `reached_agent` learns the name of each agent whose socket took the frame.
    #[allow(clippy::too_many_arguments)]
    pub fn deliver(
        &self,
        frame: &Message,
        channel: &str,
        sender: &str,
        mentions: &[String],
        scope: Scope<'_>,
        metrics: &Metrics,
        mut reached_agent: impl FnMut(&str),
    ) -> u64 {
        let inner = self.read();
        let in_scope = |a: &Agent| scope.is_none_or(|s| a.info.workspace_id == s);
        let mut reached = 0u64;
        let mut send = |a: &Agent| {
            if a.conn.send(frame.clone(), metrics) {
                reached += 1;
                reached_agent(&a.info.name);
            }
        };
        let members = inner.channels.get(channel);
        if let Some(members) = members {
            for name in members {
                if name != sender && let Some(a) = inner.agents.get(name).filter(|a| in_scope(a)) {
                    send(a);
                }
            }
        }
        for (i, name) in mentions.iter().enumerate() {
            let already = name == sender
                || members.is_some_and(|m| m.contains(name))
                || mentions[..i].contains(name);
            if !already && let Some(a) = inner.agents.get(name).filter(|a| in_scope(a)) {
                send(a);
            }
        }
        for o in inner.observers.values() {
            if o.send(frame.clone(), metrics) {
                reached += 1;
            }
        }
        reached
    }

    /// Sends a hub event (presence, status) to every observer, here and on the other hub
    /// processes (see `state::fleet`).
    pub fn to_observers(&self, frame: &crate::protocol::Frame, metrics: &Metrics) {
        self.outbox.offer(frame);
        let inner = self.read();
        if inner.observers.is_empty() {
            return;
        }
        Self::broadcast(&inner, Message::Text(frame.to_json().into()), metrics);
    }

    /// Sends an event another hub process announced to this one's observers.
    pub fn to_local_observers(&self, text: &str, metrics: &Metrics) {
        Self::broadcast(&self.read(), Message::Text(text.into()), metrics);
    }

    fn broadcast(inner: &Inner, msg: Message, metrics: &Metrics) {
        for o in inner.observers.values() {
            o.send(msg.clone(), metrics);
        }
    }

    /// Removes agents silent for longer than `stale`, closing their sockets (the reference left
    /// them open and deaf). Returns the removed names, sorted.
    pub fn reap(&self, stale: Duration) -> Vec<String> {
        let mut inner = self.write();
        let now = Instant::now();
        let names: Vec<String> = inner
            .agents
            .iter()
            .filter(|(_, a)| now.duration_since(a.seen) > stale)
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            if let Some(a) = inner.remove_agent(name) {
                a.conn.close(close_code::STALE, "stale: no heartbeat");
            }
        }
        let mut names = names;
        names.sort();
        names
    }
}

impl Inner {
    /// Adds an agent (not yet present) with its channel memberships.
    pub fn insert_agent(&mut self, agent: Agent) {
        let name = agent.info.name.clone();
        self.mark_changed(&name);
        for ch in &agent.info.channels {
            self.channels.entry(ch.clone()).or_default().insert(name.clone());
        }
        self.index_machine(&agent.info.machine, &name, agent.seen);
        self.agents.insert(name, agent);
    }

    /// Removes an agent and its channel memberships.
    pub fn remove_agent(&mut self, name: &str) -> Option<Agent> {
        let agent = self.agents.remove(name)?;
        self.mark_changed(name);
        for ch in &agent.info.channels {
            self.drop_member(ch, name);
        }
        self.unindex_machine(&agent.info.machine, name);
        Some(agent)
    }

    /// Changes the machine an agent reports.
    pub fn set_machine(&mut self, name: &str, machine: String) {
        let Some(a) = self.agent_mut(name) else { return };
        let old = std::mem::replace(&mut a.info.machine, machine.clone());
        let seen = a.seen;
        self.unindex_machine(&old, name);
        self.index_machine(&machine, name, seen);
    }

    /// The agents on `machine` (non-empty) silent for longer than `stale`. Looks only at the
    /// entries indexed longer ago than `stale`, re-indexing those seen since.
    pub fn stale_on_machine(&mut self, machine: &str, stale: Duration) -> Vec<String> {
        let now = Instant::now();
        let Some(index) = self.by_machine.get_mut(machine) else { return Vec::new() };
        let mut found = Vec::new();
        while let Some((at, name)) = index.by_seen.first().cloned() {
            if now.duration_since(at) <= stale {
                break;
            }
            match self.agents.get(&name).map(|a| a.seen) {
                Some(seen) if now.duration_since(seen) > stale => {
                    index.by_seen.pop_first();
                    found.push((at, name));
                }
                Some(seen) => index.insert(&name, seen),
                None => index.remove(&name),
            }
        }
        // Back in place until the caller removes them.
        index.by_seen.extend(found.iter().cloned());
        found.into_iter().map(|(_, name)| name).collect()
    }

    fn index_machine(&mut self, machine: &str, name: &str, seen: Instant) {
        if !machine.is_empty() {
            self.by_machine.entry(machine.to_string()).or_default().insert(name, seen);
        }
    }

    fn unindex_machine(&mut self, machine: &str, name: &str) {
        if let Some(index) = self.by_machine.get_mut(machine) {
            index.remove(name);
            if index.indexed.is_empty() {
                self.by_machine.remove(machine);
            }
        }
    }

    fn drop_member(&mut self, channel: &str, name: &str) {
        if let Some(m) = self.channels.get_mut(channel) {
            m.remove(name);
            if m.is_empty() && channel != DEFAULT_CHANNEL {
                self.channels.remove(channel);
            }
        }
    }

    pub fn join(&mut self, name: &str, channel: &str) -> bool {
        let Some(agent) = self.agent_mut(name) else { return false };
        agent.info.channels.insert(channel.to_string());
        self.channels.entry(channel.to_string()).or_default().insert(name.to_string());
        true
    }

    pub fn leave(&mut self, name: &str, channel: &str) {
        if let Some(agent) = self.agent_mut(name) {
            agent.info.channels.remove(channel);
        }
        self.drop_member(channel, name);
    }

    /// An agent as the API shows it: its info with its workspace's health record.
    pub fn view(&self, agent: &Agent) -> AgentInfo {
        let mut info = agent.info.clone();
        info.health = self.health.get(&(info.workspace_id.clone(), info.name.clone())).cloned();
        info
    }

    /// The name this connection registered, if it is still the holder.
    pub fn name_of(&self, conn_id: u64) -> Option<&str> {
        self.agents.iter().find(|(_, a)| a.conn.id == conn_id).map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::state::auth::Principal;

    fn agent(name: &str, machine: &str, silent: Duration) -> Agent {
        let (conn, _) = Conn::new(Principal::Admin, 8, 1024);
        let info = AgentInfo {
            name: name.into(),
            channels: BTreeSet::from(["#general".to_string()]),
            machine: machine.into(),
            role: String::new(),
            model: String::new(),
            agent_id: String::new(),
            project: String::new(),
            multiplexer: String::new(),
            status: "online".into(),
            current_task: String::new(),
            subagent_count: 0,
            resources: Map::new(),
            last_heartbeat: String::new(),
            workspace_id: String::new(),
            registered_at: String::new(),
            subagents: Vec::new(),
            health: None,
        };
        Agent { conn: Arc::new(conn), info, seen: Instant::now() - silent }
    }

    #[test]
    fn the_machine_index_follows_insert_move_and_remove() {
        let stale = Duration::from_secs(5);
        let old = Duration::from_secs(60);
        let mut inner = Inner::default();
        inner.insert_agent(agent("a", "m1", old));
        inner.insert_agent(agent("b", "m1", Duration::ZERO));
        inner.insert_agent(agent("c", "m2", old));
        inner.insert_agent(agent("d", "", old));
        assert_eq!(inner.stale_on_machine("m1", stale), vec!["a".to_string()]);
        assert_eq!(inner.stale_on_machine("", stale), Vec::<String>::new(), "no machine is no machine");
        inner.set_machine("c", "m1".into());
        let mut on_m1 = inner.stale_on_machine("m1", stale);
        on_m1.sort();
        assert_eq!(on_m1, vec!["a".to_string(), "c".to_string()]);
        assert!(inner.stale_on_machine("m2", stale).is_empty(), "moved away");
        inner.remove_agent("a");
        assert_eq!(inner.stale_on_machine("m1", stale), vec!["c".to_string()]);
        inner.remove_agent("b");
        inner.remove_agent("c");
        assert!(inner.by_machine.is_empty(), "emptied machines are dropped");
        assert_eq!(inner.channels["#general"], BTreeSet::from(["d".to_string()]));

        // Seen since it was indexed: not stale, and re-indexed so the next scan stops at once.
        inner.insert_agent(agent("e", "m3", old));
        inner.agents.get_mut("e").unwrap().touch();
        assert!(inner.stale_on_machine("m3", stale).is_empty());
        let (at, _) = inner.by_machine["m3"].by_seen.first().unwrap();
        assert!(at.elapsed() < stale);
    }

    /// The clock is each agent's last-seen time, set in the past: no test waits for it.
    #[test]
    fn the_reaper_removes_the_silent_and_closes_their_sockets() {
        let registry = Registry::default();
        let silent = agent("silent", "m1", Duration::from_secs(60));
        let conn = silent.conn.clone();
        registry.write().insert_agent(silent);
        registry.write().insert_agent(agent("talking", "m1", Duration::ZERO));
        assert_eq!(registry.reap(Duration::from_secs(5)), vec!["silent".to_string()]);
        assert!(conn.is_closing());
        assert_eq!(registry.read().agents.keys().collect::<Vec<_>>(), ["talking"]);
        assert!(registry.reap(Duration::from_secs(5)).is_empty());
    }
}
