//! The values of the message path: what the pipeline hands the store, what a commit returns,
//! what reads return, and the SQL-free rules every backend shares (page size, reader scope).

use serde_json::{Map, Value, json};

use super::domain::Principal;
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

/// Who a stored message's mention waits for: a name held by the workspace that may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub workspace: String,
    pub agent: String,
}

/// What waits for an agent when it registers.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    /// The waiting messages with their inbox row ids, oldest first.
    pub rows: Vec<(i64, HistoryRow)>,
    /// Mentions dropped by the per-agent bound since the agent last took its inbox.
    pub dropped: u64,
}

/// The oldest mention time (unix seconds) still handed out when mentions live `max_age_days`.
pub fn inbox_since(max_age_days: u64) -> i64 {
    super::keys::unix_now().saturating_sub((max_age_days * 86_400) as i64)
}

/// Remember (`join`) or forget the agent's channels; committed with the next message batch.
#[derive(Debug, Clone)]
pub struct MembershipChange {
    pub agent: String,
    pub channels: Vec<String>,
    pub join: bool,
}
