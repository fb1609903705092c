//! What the other hub processes on the database commit and say, acted on here: their messages
//! go to this hub's sockets and observers (Web Push went out from the hub that committed),
//! a name registered there closes its older holder here, and their name claims are learned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::ws::Message;

use crate::hub::HubState;
use crate::hub::state::fleet;
use crate::hub::socket::conn::close_code;
use crate::hub::store::Store;
use crate::hub::store::peers::{PeerNote, PeerRow, PeerSink};

/// The hub as its store's peers reach it. Weak: the store, which holds the sink, lives in
/// the hub.
pub struct FromPeers {
    state: Weak<HubState>,
    /// Registrations here whose own note was not heard back yet, by (workspace, name): a
    /// registration elsewhere heard meanwhile was committed before ours, so it is the older
    /// one and closes nothing here.
    telling: Mutex<HashMap<(String, String), (u32, Instant)>>,
}

/// How long a hub's own note may take to come back to it.
const HEARD_BACK: Duration = Duration::from_secs(10);

impl FromPeers {
    pub fn new(state: Weak<HubState>) -> Arc<FromPeers> {
        Arc::new(FromPeers { state, telling: Mutex::default() })
    }

    /// Tells the other hubs that `name` registered here, after it replaced any holder here:
    /// their holder, if older, closes with 4000 as it would on one hub.
    pub async fn registered(&self, store: &Store, workspace: &str, name: &str) {
        if !store.shared() {
            return;
        }
        let key = (workspace.to_string(), name.to_string());
        self.count(&key, true);
        let note = PeerNote::Registered { workspace: key.0.clone(), name: key.1.clone() };
        if let Err(e) = store.tell_peers(note).await {
            tracing::warn!(agent = %name, error = %e, "cannot tell the other hubs of a registration");
            self.count(&key, false);
        }
    }

    /// One more (or one fewer) registration of `key` on its way.
    fn count(&self, key: &(String, String), more: bool) {
        let mut telling = self.telling.lock().expect("telling lock");
        if more {
            let e = telling.entry(key.clone()).or_insert((0, Instant::now()));
            *e = (e.0 + 1, Instant::now());
            return;
        }
        if let Some(e) = telling.get_mut(key) {
            e.0 -= 1;
            if e.0 == 0 {
                telling.remove(key);
            }
        }
    }

    /// Whether a registration of `key` here was told and not heard back yet; one told longer
    /// ago than [`HEARD_BACK`] was lost with the listening connection.
    fn is_telling(&self, key: &(String, String)) -> bool {
        self.telling.lock().expect("telling lock").get(key).is_some_and(|(_, since)| since.elapsed() < HEARD_BACK)
    }

    /// `name` registered on another hub: the holder here closes unless it registered later.
    fn replaced_elsewhere(&self, st: &HubState, workspace: String, name: String) {
        let key = (workspace, name);
        if self.is_telling(&key) {
            return;
        }
        let removed = {
            let mut inner = st.registry.write();
            match inner.agents.get(&key.1) {
                Some(a) if a.info.workspace_id == key.0 => inner.remove_agent(&key.1),
                _ => None,
            }
        };
        if let Some(a) = removed {
            a.conn.close(close_code::REPLACED, "Replaced by new connection");
            st.announce_disconnect(&key.1);
        }
    }
}

impl PeerSink for FromPeers {
    fn row(&self, p: PeerRow) {
        let Some(st) = self.state.upgrade() else { return };
        let waiting: Vec<(&str, i64)> = p.waiting.iter().map(|(agent, id)| (agent.as_str(), *id)).collect();
        let r = &p.row;
        st.fan_out(&Message::Text(r.to_frame().to_json().into()), &r.channel, &r.sender, &r.mentions, p.audience.scope(), &waiting);
    }

    fn note(&self, note: PeerNote, mine: bool) {
        let Some(st) = self.state.upgrade() else { return };
        match note {
            PeerNote::Registered { workspace, name } if mine => {
                self.count(&(workspace, name), false);
            }
            PeerNote::Registered { workspace, name } => self.replaced_elsewhere(&st, workspace, name),
            _ if mine => {}
            PeerNote::NamesChanged => {
                tokio::spawn(async move { st.names.reload().await });
            }
            PeerNote::Presence { events } => fleet::heard(&st, events),
            PeerNote::Health { workspace, agent, record } => st.health_heard(workspace, agent, record),
            PeerNote::Permission { event, id } => st.permission_heard(event, id),
        }
    }
}
