//! The `key_marks` table and `messages.client_key` (see [`crate::hub::store::keys`]).

use rusqlite::{Connection, OptionalExtension, params};

use crate::hub::store::keys::{KEY_LIFETIME, PURGE_STEP};
use crate::hub::store::message::{NewMessage, Placed};

/// The stored place of the message holding `msg`'s key, after an insert that stored nothing.
pub(super) fn holder(conn: &Connection, msg: &NewMessage) -> rusqlite::Result<Option<Placed>> {
    let Some(key) = &msg.key else { return Ok(None) };
    conn.prepare_cached("SELECT msg_id, seq FROM messages WHERE sender = ?1 AND client_key = ?2")?
        .query_row(params![msg.sender, key.column()], |r| Ok(Placed { msg_id: r.get(0)?, seq: r.get::<_, i64>(1)? as u64 }))
        .optional()
}

/// Notes how far `messages` reaches at `now`, and returns the ids whose keys expired and are
/// not cleared yet: `(cleared through, expired through)`. The oldest mark kept is where the
/// last run cleared through.
pub(super) fn mark(conn: &Connection, now: i64) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.prepare_cached("INSERT OR REPLACE INTO key_marks (at, last_id) VALUES (?1, (SELECT COALESCE(MAX(id), 0) FROM messages))")?
        .execute([now])?;
    let (from, to): (i64, Option<i64>) = conn.query_row(
        "SELECT (SELECT last_id FROM key_marks ORDER BY at LIMIT 1),
                (SELECT last_id FROM key_marks WHERE at <= ?1 ORDER BY at DESC LIMIT 1)",
        [now - KEY_LIFETIME.as_secs() as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(to.filter(|t| *t > from).map(|t| (from, t)))
}

/// Clears the keys of ids in `(from, to]`, at most [`PURGE_STEP`] ids of them; returns the id it
/// cleared through and how many keys went.
pub(super) fn clear_step(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<(i64, usize)> {
    let through = to.min(from + PURGE_STEP);
    let n = conn
        .prepare_cached("UPDATE messages SET client_key = NULL WHERE id > ?1 AND id <= ?2 AND client_key IS NOT NULL")?
        .execute(params![from, through])?;
    Ok((through, n))
}

/// After clearing through `to`: the marks below it are spent (the one at `to` stays as the floor).
pub(super) fn forget_marks(conn: &Connection, to: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM key_marks WHERE last_id < ?1", [to])
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::messages::insert;
    use crate::hub::store::message::{Audience, ClientKey};

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&c).unwrap();
        c
    }

    fn msg(workspace: &str, sender: &str, id: &str, msg_id: &str) -> NewMessage {
        NewMessage {
            msg_id: msg_id.into(),
            key: Some(ClientKey { workspace: workspace.into(), id: id.into() }),
            audience: Audience::Everyone,
            ts: String::new(),
            channel: "#g".into(),
            sender: sender.into(),
            content: String::new(),
            mentions: Vec::new(),
            metadata: Default::default(),
            sender_type: "agent",
            inbox: Vec::new(),
        }
    }

    #[test]
    fn a_key_is_held_per_workspace_and_sender() {
        let c = db();
        assert!(insert(&c, &msg("", "a", "m0", "h1"), 1).unwrap());
        let again = msg("", "a", "m0", "h2");
        assert!(!insert(&c, &again, 2).unwrap());
        assert_eq!(holder(&c, &again).unwrap(), Some(Placed { seq: 1, msg_id: "h1".into() }));
        assert!(insert(&c, &msg("", "b", "m0", "h3"), 2).unwrap(), "another sender's key");
        assert!(insert(&c, &msg("w1", "a", "m0", "h4"), 3).unwrap(), "another workspace's key");
        let mut unkeyed = msg("", "a", "", "h5");
        unkeyed.key = None;
        assert!(insert(&c, &unkeyed, 4).unwrap());
        assert!(insert(&c, &NewMessage { msg_id: "h6".into(), ..unkeyed }, 5).unwrap());
    }

    #[test]
    fn keys_expire_after_their_lifetime_in_bounded_steps() {
        let c = db();
        let t0 = 1_000_000;
        assert_eq!(mark(&c, t0).unwrap(), None, "nothing expired yet");
        let old = PURGE_STEP + 10;
        for i in 0..old {
            assert!(insert(&c, &msg("", "a", &format!("old{i}"), &format!("h{i}")), i as u64 + 1).unwrap());
        }
        assert_eq!(mark(&c, t0 + 60).unwrap(), None);
        assert!(insert(&c, &msg("", "a", "young", "hy"), old as u64 + 1).unwrap());
        let now = t0 + 60 + KEY_LIFETIME.as_secs() as i64;
        let (from, to) = mark(&c, now).unwrap().expect("the first rows expired");
        assert_eq!((from, to), (0, old));
        let (through, n) = clear_step(&c, from, to).unwrap();
        assert_eq!((through, n as i64), (PURGE_STEP, PURGE_STEP), "one step covers at most PURGE_STEP ids");
        assert_eq!(clear_step(&c, through, to).unwrap(), (old, 10));
        forget_marks(&c, to).unwrap();
        assert_eq!(mark(&c, now + 1).unwrap(), None, "cleared through the expired mark");
        assert!(insert(&c, &msg("", "a", "old0", "again"), old as u64 + 2).unwrap(), "an expired key is free again");
        assert!(!insert(&c, &msg("", "a", "young", "hy2"), old as u64 + 3).unwrap(), "a young key still holds");
    }
}
