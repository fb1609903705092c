//! Pending requests' deadlines and the agents whose socket went away, kept in memory beside
//! the rows in the store, and the broadcast of live updates to approvers' watchers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};

use super::now_ms;
use crate::hub::store::permissions::Request;

/// Live updates kept for a slow watcher before it is told to reload.
const WATCH_BUFFER: usize = 256;

/// What a watcher (`/ws/permissions`) receives: a `permission_update` frame for one workspace.
#[derive(Debug)]
pub struct Update {
    pub workspace_id: String,
    pub text: String,
}

/// Pending requests' deadlines and the agents whose socket went away, in memory; the rows
/// themselves are in the store.
#[derive(Default)]
struct Tracked {
    /// id → (agent, expires at in ms since the epoch).
    pending: HashMap<String, (String, i64)>,
    /// Agent → when its socket went away (ms). A name belongs to one workspace at a time
    /// (`hub::names`), so the name alone says whose requests these are.
    gone: HashMap<String, i64>,
}

pub struct Permissions {
    tracked: Mutex<Tracked>,
    pub(super) changed: Notify,
    pub(super) updates: broadcast::Sender<Arc<Update>>,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions { tracked: Mutex::default(), changed: Notify::new(), updates: broadcast::channel(WATCH_BUFFER).0 }
    }
}

impl Permissions {
    fn tracked(&self) -> std::sync::MutexGuard<'_, Tracked> {
        self.tracked.lock().expect("permissions lock")
    }

    pub fn watch(&self) -> broadcast::Receiver<Arc<Update>> {
        self.updates.subscribe()
    }

    pub(super) fn track(&self, r: &Request) {
        self.tracked().pending.insert(r.id.clone(), (r.agent.clone(), r.expires_ms));
        self.changed.notify_one();
    }

    /// Forgets a decided request, and its agent's departure once nothing of it is pending.
    pub(super) fn untrack(&self, id: &str) {
        let mut t = self.tracked();
        if let Some((a, _)) = t.pending.remove(id)
            && !t.pending.values().any(|(pa, _)| *pa == a)
        {
            t.gone.remove(&a);
        }
    }

    /// The agent left the registry (socket closed, reaped, evicted): its requests wait the
    /// grace period for it to come back.
    pub fn agent_left(&self, agent: &str) {
        let mut t = self.tracked();
        if t.pending.values().any(|(a, _)| a == agent) {
            t.gone.insert(agent.to_string(), now_ms());
            drop(t);
            self.changed.notify_one();
        }
    }

    /// The agent registered again: its requests live on.
    pub fn agent_back(&self, agent: &str) {
        self.tracked().gone.remove(agent);
    }

    /// Ids due now, and the next deadline after them.
    pub(super) fn due(&self, now: i64, grace_ms: i64) -> (Vec<String>, Option<i64>) {
        let t = self.tracked();
        let mut due = Vec::new();
        let mut next: Option<i64> = None;
        for (id, (a, expires)) in &t.pending {
            let left_at = t.gone.get(a).map(|g| g + grace_ms);
            let deadline = left_at.map_or(*expires, |l| l.min(*expires));
            if deadline <= now {
                due.push(id.clone());
            } else {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        (due, next)
    }
}
