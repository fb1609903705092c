//! The `messages` table's queries (the values in [`crate::hub::store::message`]).

use rusqlite::{Connection, Row, params};

use crate::hub::store::domain::Principal;
use crate::hub::store::message::{ClientKey, HistoryQuery, HistoryRow, NewMessage, reader_scope};

/// A history row from a `SELECT * FROM messages` row.
pub(super) fn history_row(row: &Row<'_>) -> rusqlite::Result<HistoryRow> {
    let mentions: Option<String> = row.get("mentions")?;
    let metadata: Option<String> = row.get("metadata")?;
    Ok(HistoryRow {
        seq: row.get::<_, Option<i64>>("seq")?.unwrap_or(0) as u64,
        msg_id: row.get("msg_id")?,
        ts: row.get("ts")?,
        channel: row.get("channel")?,
        sender: row.get("sender")?,
        content: row.get("content")?,
        mentions: mentions.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
        sender_type: row.get("sender_type")?,
    })
}

/// Inserts the row unless another row of the sender holds its key; true when stored.
pub(super) fn insert(conn: &Connection, m: &NewMessage, seq: u64) -> rusqlite::Result<bool> {
    let mentions = (!m.mentions.is_empty()).then(|| serde_json::to_string(&m.mentions).expect("strings serialize"));
    let metadata = (!m.metadata.is_empty()).then(|| serde_json::to_string(&m.metadata).expect("json serializes"));
    let n = conn
        .prepare_cached(
            "INSERT INTO messages (msg_id, ts, channel, sender, content, mentions, metadata, sender_type, seq, audience, client_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (sender, client_key) WHERE client_key IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            m.msg_id,
            m.ts,
            m.channel,
            m.sender,
            m.content,
            mentions,
            metadata,
            m.sender_type,
            seq as i64,
            m.audience.scope(),
            m.key.as_ref().map(ClientKey::column)
        ])?;
    Ok(n == 1)
}

/// Rows of one channel: newest first, or oldest first after `after_seq`.
pub fn history(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<HistoryRow>> {
    if let Some(root) = &q.thread {
        return thread(conn, q, root);
    }
    if q.sender.is_some() || q.contains.is_some() {
        return filtered(conn, q);
    }
    let since = q.since.clone().unwrap_or_default();
    let reader = reader_scope(&q.reader);
    match q.after_seq {
        Some(after) => conn
            .prepare_cached(
                "SELECT * FROM messages WHERE channel = ?1 AND seq > ?2 AND ts >= ?3
                   AND (?5 IS NULL OR audience IS NULL OR audience = ?5) ORDER BY seq ASC LIMIT ?4",
            )?
            .query_map(params![q.channel, after as i64, since, q.limit, reader], history_row)?
            .collect(),
        None => conn
            .prepare_cached(
                "SELECT * FROM messages WHERE channel = ?1 AND ts >= ?2
                   AND (?4 IS NULL OR audience IS NULL OR audience = ?4) ORDER BY seq DESC LIMIT ?3",
            )?
            .query_map(params![q.channel, since, q.limit, reader], history_row)?
            .collect(),
    }
}

/// [`history`] with sender/text filters: a separate statement so the unfiltered (hot) queries
/// stay as they are.
fn filtered(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<HistoryRow>> {
    let order = if q.after_seq.is_some() { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT * FROM messages WHERE channel = ?1 AND seq > ?2 AND ts >= ?3
           AND (?4 IS NULL OR sender = ?4) AND (?5 IS NULL OR instr(lower(content), lower(?5)) > 0)
           AND (?7 IS NULL OR audience IS NULL OR audience = ?7)
         ORDER BY seq {order} LIMIT ?6"
    );
    let after = q.after_seq.unwrap_or(0) as i64;
    let since = q.since.clone().unwrap_or_default();
    let reader = reader_scope(&q.reader);
    conn.prepare_cached(&sql)?
        .query_map(params![q.channel, after, since, q.sender, q.contains, q.limit, reader], history_row)?
        .collect()
}

/// One thread of a channel, oldest first: the root and the replies under it at any depth (a
/// reply may answer a reply). Threads are read when a person opens one, so the replies are
/// found by scanning the channel rather than by an index every insert would pay for;
/// `json_valid` keeps a malformed row of an old database from failing the read; `UNION`
/// ends a cycle of replies.
fn thread(conn: &Connection, q: &HistoryQuery, root: &str) -> rusqlite::Result<Vec<HistoryRow>> {
    let after = q.after_seq.unwrap_or(0) as i64;
    conn.prepare_cached(
        "WITH RECURSIVE t(msg_id) AS (
             SELECT ?2
             UNION
             SELECT m.msg_id FROM messages m JOIN t
               ON m.channel = ?1
               AND json_extract(CASE WHEN json_valid(m.metadata) THEN m.metadata END, '$.reply_to') = t.msg_id
         )
         SELECT * FROM messages WHERE channel = ?1 AND msg_id IN (SELECT msg_id FROM t) AND seq > ?3
           AND (?5 IS NULL OR audience IS NULL OR audience = ?5)
         ORDER BY seq ASC LIMIT ?4",
    )?
    .query_map(params![q.channel, root, after, q.limit, reader_scope(&q.reader)], history_row)?
    .collect()
}

/// The newest `limit` rows over all channels that `reader` may see, oldest first (the
/// reference's `/api/messages`).
pub fn recent(conn: &Connection, reader: &Principal, limit: i64) -> rusqlite::Result<Vec<HistoryRow>> {
    let mut rows: Vec<HistoryRow> = conn
        .prepare_cached(
            "SELECT * FROM messages WHERE (?2 IS NULL OR audience IS NULL OR audience = ?2) ORDER BY id DESC LIMIT ?1",
        )?
        .query_map(params![limit, reader_scope(reader)], history_row)?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Channels with rows `reader` may see.
pub fn channels(conn: &Connection, reader: &Principal) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT DISTINCT channel FROM messages WHERE (?1 IS NULL OR audience IS NULL OR audience = ?1) ORDER BY channel",
    )?
    .query_map([reader_scope(reader)], |r| r.get(0))?
    .collect()
}

pub fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
}

/// The channel's newest `seq`, 0 when empty (one step down the unique (channel, seq) index).
pub(super) fn head_seq(conn: &Connection, channel: &str) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE channel = ?1")?
        .query_row([channel], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// Deletes the oldest rows beyond `keep`; returns how many went.
pub(super) fn prune(conn: &Connection, keep: u64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM messages WHERE id <= (SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        [keep as i64],
    )
}
