//! Mentions waiting for their agent: one row per (workspace, agent, message) written in the
//! message's own transaction, deleted once a live frame reached a socket of the agent or the
//! agent took them at register. Only undelivered mentions are kept, at most `max` per agent
//! (the oldest go and are counted), each for a limited number of days.

use rusqlite::{Connection, OptionalExtension, params};

use super::messages::history_row;
use crate::hub::store::keys::unix_now;
use crate::hub::store::message::{Recipient, Waiting};

/// Adds one waiting mention of the message stored as row `message_id`, dropping the agent's
/// oldest beyond `max`; returns the new row's id.
pub(super) fn insert(conn: &Connection, r: &Recipient, message_id: i64, max: u64) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO inbox (workspace_id, agent, message_id, at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![r.workspace, r.agent, message_id, unix_now()])?;
    let id = conn.last_insert_rowid();
    let dropped = conn
        .prepare_cached(
            "DELETE FROM inbox WHERE workspace_id = ?1 AND agent = ?2 AND id <=
                 (SELECT id FROM inbox WHERE workspace_id = ?1 AND agent = ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3)",
        )?
        .execute(params![r.workspace, r.agent, max as i64])?;
    if dropped > 0 {
        conn.prepare_cached(
            "INSERT INTO inbox_dropped (workspace_id, agent, dropped) VALUES (?1, ?2, ?3)
             ON CONFLICT (workspace_id, agent) DO UPDATE SET dropped = dropped + excluded.dropped",
        )?
        .execute(params![r.workspace, r.agent, dropped as i64])?;
    }
    Ok(id)
}

/// Forgets mentions whose live frame reached their agent.
pub(super) fn delivered(conn: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// Whether anything waits for the agent: mentions or a dropped count. One index step.
pub(super) fn any(conn: &Connection, workspace: &str, agent: &str) -> rusqlite::Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM inbox WHERE workspace_id = ?1 AND agent = ?2 LIMIT 1")?.exists(params![workspace, agent])?
        || conn.prepare_cached("SELECT 1 FROM inbox_dropped WHERE workspace_id = ?1 AND agent = ?2")?.exists(params![workspace, agent])?)
}

/// The agent's waiting mentions newer than `since` (unix seconds) that its workspace may read,
/// oldest first.
pub(super) fn waiting(conn: &Connection, workspace: &str, agent: &str, since: i64) -> rusqlite::Result<Waiting> {
    let rows = conn
        .prepare_cached(
            "SELECT i.id AS inbox_id, m.* FROM inbox i JOIN messages m ON m.id = i.message_id
             WHERE i.workspace_id = ?1 AND i.agent = ?2 AND i.at >= ?3 AND (m.audience IS NULL OR m.audience = ?1)
             ORDER BY m.id",
        )?
        .query_map(params![workspace, agent, since], |r| Ok((r.get("inbox_id")?, history_row(r)?)))?
        .collect::<Result<_, _>>()?;
    let dropped: Option<i64> = conn
        .prepare_cached("SELECT dropped FROM inbox_dropped WHERE workspace_id = ?1 AND agent = ?2")?
        .query_row(params![workspace, agent], |r| r.get(0))
        .optional()?;
    Ok(Waiting { rows, dropped: dropped.unwrap_or(0) as u64 })
}

/// Forgets what the agent was handed: the `sent` rows, and the dropped count once it was told.
pub(super) fn handed(conn: &mut Connection, workspace: &str, agent: &str, sent: &[i64], told: bool) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    delivered(&tx, sent)?;
    if told {
        tx.execute("DELETE FROM inbox_dropped WHERE workspace_id = ?1 AND agent = ?2", params![workspace, agent])?;
    }
    tx.commit()
}

/// Puts the messages named by `msg_ids` back into `r`'s inbox, in one transaction.
pub(super) fn requeue(conn: &mut Connection, r: &Recipient, msg_ids: &[String], max: u64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for msg_id in msg_ids {
        let row: Option<i64> =
            tx.prepare_cached("SELECT id FROM messages WHERE msg_id = ?1")?.query_row([msg_id], |r| r.get(0)).optional()?;
        if let Some(row) = row {
            insert(&tx, r, row, max)?;
        }
    }
    tx.commit()
}

/// Drops mentions older than `before` (unix seconds); returns how many went.
pub(super) fn expire(conn: &Connection, before: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM inbox WHERE at < ?1", [before])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(c: &Connection, audience: Option<&str>) -> i64 {
        c.execute(
            "INSERT INTO messages (msg_id, ts, channel, sender, content, sender_type, seq, audience)
             VALUES (lower(hex(randomblob(8))), 't', '#c', 's', '@bob', 'agent', (SELECT COUNT(*) + 1 FROM messages), ?1)",
            [audience],
        )
        .unwrap();
        c.last_insert_rowid()
    }

    fn ids(w: &Waiting) -> Vec<u64> {
        w.rows.iter().map(|(_, r)| r.seq).collect()
    }

    #[test]
    fn bounded_oldest_first_handed_once() {
        let mut c = Connection::open_in_memory().unwrap();
        super::super::migrate_for_tests(&c);
        let bob = Recipient { workspace: "w".into(), agent: "bob".into() };
        for _ in 0..5 {
            let m = message(&c, Some("w"));
            insert(&c, &bob, m, 3).unwrap();
        }
        let w = waiting(&c, "w", "BOB", 0).unwrap();
        assert_eq!(ids(&w), [3, 4, 5], "the oldest two went");
        assert_eq!(w.dropped, 2);
        handed(&mut c, "w", "bob", &[w.rows[0].0, w.rows[1].0], false).unwrap();
        let w = waiting(&c, "w", "bob", 0).unwrap();
        assert_eq!((ids(&w), w.dropped), (vec![5], 2), "the unsent one and the count stay");
        handed(&mut c, "w", "bob", &[w.rows[0].0], true).unwrap();
        let w = waiting(&c, "w", "bob", 0).unwrap();
        assert!(w.rows.is_empty() && w.dropped == 0);
    }

    #[test]
    fn delivered_expired_and_invisible_rows_are_not_handed_out() {
        let c = Connection::open_in_memory().unwrap();
        super::super::migrate_for_tests(&c);
        let bob = Recipient { workspace: "w".into(), agent: "bob".into() };
        let m = message(&c, Some("w"));
        let live = insert(&c, &bob, m, 10).unwrap();
        let m = message(&c, Some("other"));
        insert(&c, &bob, m, 10).unwrap();
        let m = message(&c, None);
        insert(&c, &bob, m, 10).unwrap();
        delivered(&c, &[live]).unwrap();
        assert_eq!(ids(&waiting(&c, "w", "bob", 0).unwrap()), [3], "delivered and foreign rows stay out");
        assert!(waiting(&c, "w", "bob", unix_now() + 1).unwrap().rows.is_empty(), "too old");
        assert_eq!(expire(&c, unix_now() + 1).unwrap(), 2);
    }
}
