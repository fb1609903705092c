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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::store::messages::{Audience, ClientKey};

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&c).unwrap();
        c
    }

    fn msg(sender: &str, id: &str, msg_id: &str) -> NewMessage {
        NewMessage {
            msg_id: msg_id.into(),
            key: Some(ClientKey { workspace: String::new(), id: id.into() }),
            audience: Audience::Everyone,
            ts: String::new(),
            channel: "#g".into(),
            sender: sender.into(),
            content: String::new(),
            mentions: Vec::new(),
            metadata: Default::default(),
            sender_type: "agent",
        }
    }

    #[test]
    fn a_key_is_held_per_sender_until_it_expires() {
        let c = db();
        let now = 1_000_000;
        assert_eq!(claim(&c, &msg("a", "m0", "h1"), 1, now).unwrap(), None);
        assert_eq!(claim(&c, &msg("a", "m0", "h2"), 2, now + 5).unwrap(), Some(Placed { seq: 1, msg_id: "h1".into() }));
        assert_eq!(claim(&c, &msg("b", "m0", "h3"), 2, now).unwrap(), None, "another sender's key");
        let later = now + KEY_LIFETIME.as_secs() as i64 + 1;
        assert_eq!(claim(&c, &msg("a", "m0", "h4"), 3, later).unwrap(), None, "an expired key is free again");
        assert_eq!(claim(&c, &msg("a", "m0", "h5"), 4, later).unwrap(), Some(Placed { seq: 3, msg_id: "h4".into() }));
    }

    #[test]
    fn purge_deletes_only_expired_keys_in_bounded_steps() {
        let c = db();
        let now = 1_000_000;
        for i in 0..(PURGE_STEP + 10) {
            claim(&c, &msg("a", &format!("old{i}"), "h"), 1, now).unwrap();
        }
        claim(&c, &msg("a", "new", "h"), 1, now + 100).unwrap();
        let at = now + KEY_LIFETIME.as_secs() as i64 + 50;
        assert_eq!(purge_step(&c, at).unwrap() as i64, PURGE_STEP);
        assert_eq!(purge_step(&c, at).unwrap(), 10);
        assert_eq!(purge_step(&c, at).unwrap(), 0);
        let left: i64 = c.query_row("SELECT COUNT(*) FROM message_keys", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 1);
    }
}
