//! Live sockets by the workspace token they authenticated with (its hash, never the token),
//! so revoking a token closes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::hub::socket::conn::{Conn, close_code};

#[derive(Default)]
pub struct LiveTokens {
    by_hash: Mutex<HashMap<String, HashMap<u64, Weak<Conn>>>>,
}

/// A socket listed under its token; unlisted on drop, whichever way the socket ends.
pub struct Listed {
    live: Arc<LiveTokens>,
    hash: String,
    id: u64,
}

impl LiveTokens {
    /// Lists `conn` if it came with a workspace token.
    pub fn list(self: &Arc<Self>, conn: &Arc<Conn>) -> Option<Listed> {
        let hash = conn.token_hash.clone()?;
        self.by_hash.lock().expect("live tokens lock").entry(hash.clone()).or_default().insert(conn.id, Arc::downgrade(conn));
        Some(Listed { live: self.clone(), hash, id: conn.id })
    }

    /// Closes every live socket of these tokens (4001); returns how many were open.
    pub fn revoke(&self, hashes: &[String]) -> usize {
        let conns: Vec<Weak<Conn>> = {
            let mut map = self.by_hash.lock().expect("live tokens lock");
            hashes.iter().filter_map(|h| map.remove(h)).flat_map(HashMap::into_values).collect()
        };
        conns.iter().filter_map(Weak::upgrade).filter(|c| c.close(close_code::AUTH_FAILED, "token revoked")).count()
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        let mut map = self.live.by_hash.lock().expect("live tokens lock");
        if let Some(conns) = map.get_mut(&self.hash) {
            conns.remove(&self.id);
            if conns.is_empty() {
                map.remove(&self.hash);
            }
        }
    }
}
