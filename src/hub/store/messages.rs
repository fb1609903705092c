//! The stored message row and its queries.

use rusqlite::{Connection, Row, params};
use serde_json::{Map, Value, json};

use super::inbox::Recipient;
use crate::hub::state::auth::Principal;
use crate::protocol::Frame;

/// Who may read a stored message: fixed when it is stored, to the reach of its live delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every workspace on the channel (the admin posting without registering). Stored as NULL.
    Everyone,
    /// One workspace's agents (`""`: the admin token's agents).
    Workspace(String),
}

impl Audience {
    /// The live routing scope: `None` reaches every workspace.
    pub fn scope(&self) -> Option<&str> {
        match self {
            Audience::Everyone => None,
            Audience::Workspace(w) => Some(w),
        }
    }
}

/// The reader's workspace as the visibility filter's parameter: `None` (the admin) reads every
/// row, a workspace rows for everyone and its own. Every message read binds it to the clause
/// `(?n IS NULL OR audience IS NULL OR audience = ?n)`.
pub fn reader_scope(reader: &Principal) -> Option<String> {
    match reader {
        Principal::Admin => None,
        Principal::Workspace(w) => Some(w.clone()),
    }
}

/// A sender's idempotency key: the client's frame id, per (workspace, sender).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub workspace: String,
    pub id: String,
}

impl ClientKey {
    /// As stored in `client_key` beside the sender: workspace ids (UUIDs, or "" for the admin)
    /// hold no space, so the first space ends the workspace.
    pub fn column(&self) -> String {
        format!("{} {}", self.workspace, self.id)
    }
}

/// Where a message was stored: what its ack tells the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub seq: u64,
    pub msg_id: String,
}

/// A message as the pipeline hands it to the store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The hub's own id, globally unique.
    pub msg_id: String,
    /// Set when the sender gave its frame an id: a resend with the same key is stored once.
    pub key: Option<ClientKey>,
    pub audience: Audience,
    pub ts: String,
    pub channel: String,
    pub sender: String,
    pub content: String,
    pub mentions: Vec<String>,
    pub metadata: Map<String, Value>,
    pub sender_type: &'static str,
    /// Mentioned agents whose inbox keeps it until a live frame reaches them; empty for most.
    pub inbox: Vec<Recipient>,
}

/// A committed message with its per-channel `seq`.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub seq: u64,
    pub msg: NewMessage,
    /// The inbox rows written for `msg.inbox`, in its order.
    pub inbox_ids: Vec<i64>,
}

impl StoredMessage {
    pub fn placed(&self) -> Placed {
        Placed { seq: self.seq, msg_id: self.msg.msg_id.clone() }
    }
}

/// What an append did.
// The hot path: boxing the stored message would cost an allocation for each one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored now; its live frame goes out.
    New(StoredMessage),
    /// Its key was seen within the key lifetime: nothing stored, the first copy's place.
    Repeat(Placed),
}

/// One history row as stored: owned text, so it can come from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub seq: u64,
    pub msg_id: String,
    pub ts: String,
    pub channel: String,
    pub sender: String,
    pub content: String,
    pub mentions: Vec<String>,
    pub metadata: Map<String, Value>,
    pub sender_type: String,
}

impl HistoryRow {
    /// The reference row shape, plus `seq`.
    pub fn to_json(&self) -> Value {
        let attachments = self.metadata.get("attachments").cloned().unwrap_or_else(|| json!([]));
        json!({
            "msg_id": self.msg_id, "ts": self.ts, "channel": self.channel, "sender": self.sender,
            "content": self.content, "mentions": self.mentions, "metadata": self.metadata,
            "sender_type": self.sender_type, "attachments": attachments, "seq": self.seq,
        })
    }

    /// The live `message` frame the row was, with its `seq`.
    pub fn to_frame(&self) -> Frame {
        let mut payload = json!({"channel": self.channel, "content": self.content});
        if !self.metadata.is_empty() {
            payload["metadata"] = Value::Object(self.metadata.clone());
            if let Some(a) = self.metadata.get("attachments") {
                payload["attachments"] = a.clone();
            }
        }
        let mut f = Frame::new("message", &self.sender, payload);
        f.id = self.msg_id.clone();
        f.ts = self.ts.clone();
        f.seq = Some(self.seq);
        f
    }

    pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
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

/// Largest history page one read returns; clients page with `after_seq`.
pub use crate::protocol::limits::MAX_PAGE as MAX_QUERY_LIMIT;

/// A requested page size: negative (no limit) or too large means [`MAX_QUERY_LIMIT`].
pub fn page_limit(limit: i64) -> i64 {
    if (0..=MAX_QUERY_LIMIT).contains(&limit) { limit } else { MAX_QUERY_LIMIT }
}

/// What a history read asks for.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Who reads: rows its token could not have received live are left out.
    pub reader: Principal,
    pub channel: String,
    /// Inclusive lower bound on `ts` (string comparison, as the reference).
    pub since: Option<String>,
    /// Resume point: rows with a larger `seq`, oldest first.
    pub after_seq: Option<u64>,
    /// Negative means no limit (SQLite semantics, as the reference).
    pub limit: i64,
    /// Only this sender's rows.
    pub sender: Option<String>,
    /// Only rows whose content contains this text (ASCII case-insensitive).
    pub contains: Option<String>,
    /// Only one thread: the message with this `msg_id` and every reply under it
    /// (`metadata.reply_to`, followed down), oldest first.
    pub thread: Option<String>,
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
            .query_map(params![q.channel, after as i64, since, q.limit, reader], HistoryRow::from_row)?
            .collect(),
        None => conn
            .prepare_cached(
                "SELECT * FROM messages WHERE channel = ?1 AND ts >= ?2
                   AND (?4 IS NULL OR audience IS NULL OR audience = ?4) ORDER BY seq DESC LIMIT ?3",
            )?
            .query_map(params![q.channel, since, q.limit, reader], HistoryRow::from_row)?
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
        .query_map(params![q.channel, after, since, q.sender, q.contains, q.limit, reader], HistoryRow::from_row)?
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
    .query_map(params![q.channel, root, after, q.limit, reader_scope(&q.reader)], HistoryRow::from_row)?
    .collect()
}

/// The newest `limit` rows over all channels that `reader` may see, oldest first (the
/// reference's `/api/messages`).
pub fn recent(conn: &Connection, reader: &Principal, limit: i64) -> rusqlite::Result<Vec<HistoryRow>> {
    let mut rows: Vec<HistoryRow> = conn
        .prepare_cached(
            "SELECT * FROM messages WHERE (?2 IS NULL OR audience IS NULL OR audience = ?2) ORDER BY id DESC LIMIT ?1",
        )?
        .query_map(params![limit, reader_scope(reader)], HistoryRow::from_row)?
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
