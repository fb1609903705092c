//! What the other hub processes on the database commit and say, acted on here: their messages
//! go to this hub's sockets and observers (Web Push went out from the hub that committed),
//! a name registered there closes its holder here, and their name claims are learned.

use std::sync::{Arc, Weak};

use crate::hub::HubState;
use crate::hub::state::fleet;
use crate::hub::socket::conn::close_code;
use crate::hub::store::peers::{PeerNote, PeerRow, PeerSink};

/// The hub as its store's peers reach it. Weak: the store, which holds the sink, lives in
/// the hub.
pub struct FromPeers(Weak<HubState>);

impl FromPeers {
    pub fn new(state: &Arc<HubState>) -> Arc<FromPeers> {
        Arc::new(FromPeers(Arc::downgrade(state)))
    }
}

impl PeerSink for FromPeers {
    fn row(&self, p: PeerRow) {
        let Some(st) = self.0.upgrade() else { return };
        let waiting: Vec<(&str, i64)> = p.waiting.iter().map(|(agent, id)| (agent.as_str(), *id)).collect();
        let r = &p.row;
        st.fan_out(&r.to_frame(), &r.channel, &r.sender, &r.mentions, p.audience.scope(), &waiting);
    }

    fn note(&self, note: PeerNote) {
        let Some(st) = self.0.upgrade() else { return };
        match note {
            PeerNote::NamesChanged => {
                tokio::spawn(async move { st.names.reload().await });
            }
            PeerNote::Registered { workspace, name } => {
                let removed = {
                    let mut inner = st.registry.write();
                    match inner.agents.get(&name) {
                        Some(a) if a.info.workspace_id == workspace => inner.remove_agent(&name),
                        _ => None,
                    }
                };
                if let Some(a) = removed {
                    a.conn.close(close_code::REPLACED, "Replaced by new connection");
                    st.announce_disconnect(&name);
                }
            }
            PeerNote::Presence { events } => fleet::heard(&st, events),
            PeerNote::Health { workspace, agent, record } => st.health_heard(workspace, agent, record),
            PeerNote::Permission { event, id } => st.permission_heard(event, id),
        }
    }
}
