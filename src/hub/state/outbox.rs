//! The presence and status events this process's observers got, kept for the other hub
//! processes on the database (see `state::fleet`, which sends them), and who holds each agent
//! the others told of. Apart from `fleet` so the registry, which offers every event here,
//! does not depend on the fleet that reads it.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::hub::store::peers::PresenceEvent;
use crate::protocol::{Frame, Kind};

/// The presence and status events this process's observers got, until the next flush tells
/// the others, and which process holds each agent the others told of. Set only when there
/// are others.
#[derive(Default)]
pub struct Outbox(OnceLock<Shared>);

struct Shared {
    /// This process's id (the store's).
    me: String,
    queue: Mutex<Vec<PresenceEvent>>,
    /// Agent → the process whose events about it are current: a process that lost the agent
    /// to another (its name registered there) says it disconnected, which is stale then.
    held_by: Mutex<HashMap<String, String>>,
}

impl Outbox {
    /// From now on events are kept: there are other processes, and this one is `me`.
    pub(super) fn start(&self, me: &str) {
        let _ = self.0.set(Shared { me: me.to_string(), queue: Mutex::default(), held_by: Mutex::default() });
    }

    /// Keeps `frame` for the others when it is a presence or status event.
    pub fn offer(&self, frame: &Frame) {
        if let Some(s) = self.0.get() {
            self.offer_for(&s.me, frame);
        }
    }

    /// As [`Outbox::offer`], about an agent the process `holder` held.
    pub(super) fn offer_for(&self, holder: &str, frame: &Frame) {
        let Some(s) = self.0.get() else { return };
        if frame.kind != Kind::PresenceChange.as_str() && frame.kind != Kind::StatusUpdate.as_str() {
            return;
        }
        let agent = frame.payload.get("agent").and_then(|a| a.as_str()).unwrap_or(&frame.sender).to_string();
        let event = PresenceEvent { holder: holder.to_string(), agent, frame: frame.to_json() };
        s.queue.lock().expect("outbox lock").push(event);
    }

    pub(super) fn take(&self) -> Vec<PresenceEvent> {
        self.0.get().map(|s| std::mem::take(&mut *s.queue.lock().expect("outbox lock"))).unwrap_or_default()
    }

    /// Whether an event of `e.holder` about `e.agent` is current, noting who holds it now;
    /// `presence` is a `presence_change`'s `event` (`connected`, `disconnected`).
    pub(super) fn current(&self, e: &PresenceEvent, presence: Option<&str>) -> bool {
        let Some(s) = self.0.get() else { return false };
        let mut held = s.held_by.lock().expect("holders lock");
        if presence == Some("connected") {
            held.insert(e.agent.clone(), e.holder.clone());
            return true;
        }
        let current = held.get(&e.agent).is_none_or(|h| *h == e.holder);
        if current && presence == Some("disconnected") {
            held.remove(&e.agent);
        }
        current
    }
}
