//! Idempotency keys: the client's frame id per (workspace, sender), kept for [`KEY_LIFETIME`]
//! so a message resent after a lost ack — even across a hub restart — is stored once and acked
//! with its first `seq` and `msg_id`. Claimed inside the writer's transaction, so two copies in
//! one group-commit batch are told apart too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::messages::{NewMessage, Placed};

/// How long a key is remembered.
pub const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Most expired keys one purge step deletes (one short write between message batches).
pub const PURGE_STEP: i64 = 5_000;

pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Claims `msg`'s key for the place (`seq`, `msg.msg_id`); when the key is already held and not
/// expired, returns the holder's place and the message must not be stored.
pub(super) fn claim(conn: &Connection, msg: &NewMessage, seq: u64, now: i64) -> rusqlite::Result<Option<Placed>> {
    let Some(key) = &msg.key else { return Ok(None) };
    let insert = || {
        conn.prepare_cached(
            "INSERT INTO message_keys (workspace_id, sender, client_id, msg_id, seq, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )?
        .execute(params![key.workspace, msg.sender, key.id, msg.msg_id, seq as i64, now])
    };
    if insert()? == 1 {
        return Ok(None);
    }
    let held: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT msg_id, seq FROM message_keys WHERE workspace_id = ?1 AND sender = ?2 AND client_id = ?3
               AND created > ?4",
        )?
        .query_row(params![key.workspace, msg.sender, key.id, now - KEY_LIFETIME.as_secs() as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((msg_id, seq)) = held {
        return Ok(Some(Placed { seq: seq as u64, msg_id }));
    }
    // Expired but not purged yet: a new message. Deleted and inserted again, so the key moves
    // to the end of the purge order.
    conn.prepare_cached("DELETE FROM message_keys WHERE workspace_id = ?1 AND sender = ?2 AND client_id = ?3")?
        .execute(params![key.workspace, msg.sender, key.id])?;
    insert()?;
    Ok(None)
}

/// Deletes expired keys among the oldest [`PURGE_STEP`] ids (keys are inserted in time order, so
/// the expired ones are at the front); returns how many went. Bounded work per call.
pub(super) fn purge_step(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "DELETE FROM message_keys WHERE id <= (SELECT MIN(id) FROM message_keys) + ?2 AND created <= ?1",
    )?
    .execute(params![now - KEY_LIFETIME.as_secs() as i64, PURGE_STEP - 1])
}
