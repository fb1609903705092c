//! What the client knows about its own connection, shared between `OrochiClient` and its
//! background task, and the profile (task, subagents, …) it re-announces at every register so
//! a hub restart does not forget them.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::protocol::{Frame, now_ts};

/// A snapshot for status displays.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionStatus {
    /// `connected`, `reconnecting` or `closed`.
    pub state: &'static str,
    /// When the current connection was made (hub time format), if connected.
    pub connected_since: Option<String>,
    /// Seconds since the client was created.
    pub uptime_secs: u64,
    /// Successful reconnects so far.
    pub reconnects: u64,
    /// Milliseconds since the hub last answered a ping, if it ever did.
    pub last_pong_age_ms: Option<u64>,
}

struct Live {
    connected_since: Option<String>,
    closed: bool,
    last_pong: Option<Instant>,
}

pub struct Shared {
    started: Instant,
    live: Mutex<Live>,
    /// Successful reconnects, as a watch so a caller can await the next one.
    reconnects: watch::Sender<u64>,
    profile: Mutex<Map<String, Value>>,
    /// Frames sent again after every register until withdrawn, by key, oldest first.
    standing: Mutex<Vec<(String, Frame)>>,
}

impl Shared {
    pub fn new(profile: Map<String, Value>) -> Self {
        let live = Live { connected_since: None, closed: false, last_pong: None };
        let reconnects = watch::Sender::new(0);
        Shared { started: Instant::now(), live: Mutex::new(live), reconnects, profile: Mutex::new(profile), standing: Mutex::default() }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().expect("status lock")
    }

    pub fn connected(&self, reconnect: bool) {
        self.live().connected_since = Some(now_ts());
        if reconnect {
            self.reconnects.send_modify(|n| *n += 1);
        }
    }

    /// Follows the reconnect count: it changes once the client is registered again.
    pub fn watch_reconnects(&self) -> watch::Receiver<u64> {
        self.reconnects.subscribe()
    }

    pub fn disconnected(&self, closed: bool) {
        let mut l = self.live();
        l.connected_since = None;
        l.closed |= closed;
    }

    pub fn pong(&self) {
        self.live().last_pong = Some(Instant::now());
    }

    pub fn is_connected(&self) -> bool {
        self.live().connected_since.is_some()
    }

    pub fn snapshot(&self) -> ConnectionStatus {
        let l = self.live();
        let state = match (&l.connected_since, l.closed) {
            (Some(_), _) => "connected",
            (None, true) => "closed",
            (None, false) => "reconnecting",
        };
        ConnectionStatus {
            state,
            connected_since: l.connected_since.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            reconnects: *self.reconnects.borrow(),
            last_pong_age_ms: l.last_pong.map(|t| t.elapsed().as_millis() as u64),
        }
    }

    /// Extra `register` keys, current as of now.
    pub fn profile(&self) -> Map<String, Value> {
        self.profile.lock().expect("profile lock").clone()
    }

    pub fn remember(&self, key: &str, value: Value) {
        self.profile.lock().expect("profile lock").insert(key.to_string(), value);
    }

    /// Keeps `frame` to send again after every register (replacing one of the same key).
    pub fn stand(&self, key: &str, frame: Frame) {
        let mut s = self.standing.lock().expect("standing lock");
        s.retain(|(k, _)| k != key);
        s.push((key.to_string(), frame));
    }

    pub fn withdraw(&self, key: &str) {
        self.standing.lock().expect("standing lock").retain(|(k, _)| k != key);
    }

    pub fn standing(&self) -> Vec<Frame> {
        self.standing.lock().expect("standing lock").iter().map(|(_, f)| f.clone()).collect()
    }
}
