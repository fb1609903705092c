//! Each channel's head as this hub knows it: the highest `seq` it has delivered live, or read
//! from the store since it started. A client that registers with its positions (`resume`) and
//! holds a channel's head missed nothing there, so it need not read the channel's history.
//!
//! Why that is exact: the head moves before the message's live frame goes out (`deliver`), and
//! a register compares positions only after its agent joined the registry. A message delivered
//! before the join has moved the head past the client's position, so the client reads history;
//! one delivered after reaches the agent live. A channel the hub has not seen since it started
//! has no head here, and its clients read history as before. It holds only where this hub
//! delivers every message committed to its store: on SQLite (one hub writes its file). Hubs on
//! PostgreSQL are replicas that write one store, and a head of this hub's would not count the
//! others' messages: there no channel is ever caught up.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::hub::state::auth::Principal;
use crate::hub::store::{HistoryQuery, Store};

pub struct Heads {
    seen: Mutex<HashMap<String, u64>>,
    /// This hub alone writes its store (see the module's doc).
    alone: bool,
}

impl Heads {
    pub fn new(alone: bool) -> Heads {
        Heads { seen: Mutex::default(), alone }
    }

    /// A message of `channel` at `seq` is about to go out live.
    pub fn delivered(&self, channel: &str, seq: u64) {
        let mut seen = self.seen.lock().expect("heads lock");
        match seen.get_mut(channel) {
            Some(head) => *head = (*head).max(seq),
            None => drop(seen.insert(channel.to_string(), seq)),
        }
    }

    /// The channels among `joined` whose head the client's position has reached. Call after
    /// the agent joined them in the registry.
    pub fn caught_up(&self, positions: &[(String, u64)], joined: &BTreeSet<String>) -> Vec<String> {
        if positions.is_empty() || !self.alone {
            return Vec::new();
        }
        let seen = self.seen.lock().expect("heads lock");
        positions
            .iter()
            .filter(|(c, at)| joined.contains(c) && seen.get(c).is_some_and(|head| at >= head))
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Learns the head of every channel with rows, as the admin reads them (every row). Run
    /// once at start, beside serving: until a channel's head is known its clients read history.
    pub async fn load(&self, store: &Store) {
        if !self.alone {
            return;
        }
        let channels = match store.channels(Principal::Admin).await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "cannot read the channels' heads; resuming clients read history"),
        };
        for channel in channels {
            let newest = HistoryQuery { reader: Principal::Admin, channel: channel.clone(), limit: 1, after_seq: None, since: None, sender: None, contains: None, thread: None };
            match store.history(newest).await {
                Ok(rows) => {
                    if let Some(row) = rows.first() {
                        self.delivered(&channel, row.seq);
                    }
                }
                Err(e) => return tracing::warn!(error = %e, channel, "cannot read a channel's head; its resuming clients read history"),
            }
        }
    }
}
