//! When the client dials again: quickly after a planned restart (1012), with backoff after
//! anything else (docs/protocol.md shows the schedule).

use std::time::Duration;

use rand::Rng;

/// After a 1012 close the client retries after a random delay below this, again and again,
/// for [`RESTART_WINDOW`]; the spread keeps a fleet from arriving in one instant.
const RESTART_SPREAD: Duration = Duration::from_millis(300);

/// How long after a 1012 close the quick retries last before the usual backoff takes over.
pub(super) const RESTART_WINDOW: Duration = Duration::from_secs(30);

/// How long the TCP connection of a dial may take, after a 1012, before it is given up and
/// tried again. While a restarted hub is swamped by its fleet, the kernel drops SYNs that
/// overflow its accept queue and the client's own stack would wait 1, 3, then 7 s to resend
/// them; a fresh dial after a short bound comes back sooner. The upgrade that follows is not
/// held to it: giving up a connection the hub has queued wastes the hub's work on it (measured:
/// 10,000 agents after a restart made 4,850 such connections the hub accepted for nothing).
pub(super) const RESTART_TCP_LIMIT: Duration = Duration::from_millis(1000);
/// The bound on a whole dial (TCP, TLS, WebSocket upgrade): a hub that does not answer at all
/// is a failed attempt, and the backoff goes on, rather than a wait of minutes in the kernel.
pub(super) const DIAL_LIMIT: Duration = Duration::from_secs(15);

pub(super) fn restart_delay() -> Duration {
    RESTART_SPREAD.mul_f64(rand::rng().random_range(0.0..1.0))
}

/// Exponential from 100 ms to 10 s, with ±50 % jitter so a fleet does not reconnect in step.
pub(super) fn backoff(attempt: u32) -> Duration {
    let base = (100u64 << attempt.min(7)).min(10_000) as f64;
    Duration::from_millis((base * rand::rng().random_range(0.5..1.5)) as u64)
}
