//! Idempotency keys: the client's frame id per (workspace, sender), kept for [`KEY_LIFETIME`]
//! so a message resent after a lost ack — even across a hub restart — is stored once and acked
//! with its first `seq` and `msg_id`. The key lives on the message row (`client_key`, unique per
//! sender while set: one index entry, no extra row), so the insert itself decides, inside the
//! writer's transaction, and two copies in one group-commit batch are told apart too.
//!
//! Expiry needs no time on each row: every purge run notes how far `messages` reached
//! (`key_marks`); rows at or below a mark older than the lifetime lose their keys, in steps of
//! at most [`PURGE_STEP`] ids.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a key is remembered (until the next purge run after that).
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Most message ids one purge step covers (one short write between message batches).
pub const PURGE_STEP: i64 = 5_000;

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
