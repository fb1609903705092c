//! The `messages` and `channel_heads` tables' statements (the values in
//! [`crate::hub::store::message`]).

use std::collections::HashMap;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::hub::store::domain::Principal;
use crate::hub::store::error::StoreError;
use crate::hub::store::message::{Audience, HistoryQuery, HistoryRow, NewMessage, Placed, reader_scope};
use crate::hub::store::peers::PeerRow;

/// The columns [`history_row`] reads, in its order.
pub(super) const ROW: &str = "seq, msg_id, ts, channel, sender, content, mentions, metadata, sender_type";

/// A history row from the [`ROW`] columns starting at `at`.
pub(super) fn history_row(r: &Row, at: usize) -> HistoryRow {
    let mentions: Option<String> = r.get(at + 6);
    let metadata: Option<String> = r.get(at + 7);
    HistoryRow {
        seq: r.get::<_, i64>(at) as u64,
        msg_id: r.get(at + 1),
        ts: r.get(at + 2),
        channel: r.get(at + 3),
        sender: r.get(at + 4),
        content: r.get(at + 5),
        mentions: mentions.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or_default(),
        sender_type: r.get(at + 8),
    }
}

/// The places of the messages already holding these `(sender, client_key)` keys.
pub(super) async fn held_keys(c: &impl GenericClient, keyed: &[(&str, String)]) -> Result<HashMap<(String, String), Placed>, StoreError> {
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let senders: Vec<&str> = keyed.iter().map(|(s, _)| *s).collect();
    let keys: Vec<&str> = keyed.iter().map(|(_, k)| k.as_str()).collect();
    let stmt = c
        .prepare_cached(
            "SELECT m.sender, m.client_key, m.msg_id, m.seq FROM messages m
             JOIN unnest($1::text[], $2::text[]) AS k(sender, client_key)
               ON m.sender = k.sender AND m.client_key = k.client_key",
        )
        .await?;
    Ok(c.query(&stmt, &[&senders, &keys])
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), Placed { msg_id: r.get(2), seq: r.get::<_, i64>(3) as u64 }))
        .collect())
}

/// Locks the head rows of `channels` (sorted, so two writers lock in one order) until the
/// transaction ends and returns each channel's last `seq`. A channel without a head row starts
/// from its highest stored `seq`.
pub(super) async fn lock_heads(c: &impl GenericClient, channels: &[&str]) -> Result<HashMap<String, u64>, StoreError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO channel_heads (channel, seq)
             SELECT ch, (SELECT COALESCE(MAX(seq), 0) FROM messages WHERE channel = ch)
             FROM (SELECT ch FROM unnest($1::text[]) AS ch ORDER BY ch) AS sorted
             ON CONFLICT (channel) DO UPDATE SET seq = channel_heads.seq
             RETURNING channel, seq",
        )
        .await?;
    Ok(c.query(&stmt, &[&channels]).await?.iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect())
}

/// Moves the locked heads to the numbers the batch used.
pub(super) async fn set_heads(c: &impl GenericClient, heads: &HashMap<String, u64>) -> Result<(), StoreError> {
    let channels: Vec<&str> = heads.keys().map(String::as_str).collect();
    let seqs: Vec<i64> = heads.values().map(|s| *s as i64).collect();
    let stmt = c
        .prepare_cached(
            "UPDATE channel_heads h SET seq = n.seq FROM unnest($1::text[], $2::bigint[]) AS n(channel, seq)
             WHERE h.channel = n.channel",
        )
        .await?;
    c.execute(&stmt, &[&channels, &seqs]).await?;
    Ok(())
}

/// Stores the batch's new messages (those placed `Ok(seq)`) in one statement; returns their row
/// ids by `msg_id`.
pub(super) async fn insert(
    c: &impl GenericClient,
    batch: &[NewMessage],
    placed: &[Result<u64, Placed>],
) -> Result<HashMap<String, i64>, StoreError> {
    let new: Vec<(&NewMessage, i64)> =
        batch.iter().zip(placed).filter_map(|(m, p)| p.as_ref().ok().map(|seq| (m, *seq as i64))).collect();
    if new.is_empty() {
        return Ok(HashMap::new());
    }
    let text = |f: fn(&NewMessage) -> &str| new.iter().map(|&(m, _)| f(m)).collect::<Vec<&str>>();
    let mentions: Vec<Option<String>> = new
        .iter()
        .map(|(m, _)| (!m.mentions.is_empty()).then(|| serde_json::to_string(&m.mentions).expect("strings serialize")))
        .collect();
    let metadata: Vec<Option<String>> = new
        .iter()
        .map(|(m, _)| (!m.metadata.is_empty()).then(|| serde_json::to_string(&m.metadata).expect("json serializes")))
        .collect();
    let seqs: Vec<i64> = new.iter().map(|(_, s)| *s).collect();
    let audiences: Vec<Option<&str>> = new.iter().map(|(m, _)| m.audience.scope()).collect();
    let keys: Vec<Option<String>> = new.iter().map(|(m, _)| m.key.as_ref().map(|k| k.column())).collect();
    let stmt = c
        .prepare_cached(
            "INSERT INTO messages (msg_id, ts, channel, sender, content, mentions, metadata, sender_type, seq, audience, client_key)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                  $8::text[], $9::bigint[], $10::text[], $11::text[])
             RETURNING msg_id, id",
        )
        .await?;
    let rows = c
        .query(
            &stmt,
            &[
                &text(|m| m.msg_id.as_str()),
                &text(|m| m.ts.as_str()),
                &text(|m| m.channel.as_str()),
                &text(|m| m.sender.as_str()),
                &text(|m| m.content.as_str()),
                &mentions,
                &metadata,
                &text(|m| m.sender_type),
                &seqs,
                &audiences,
                &keys,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Rows of `channel` with `after < seq <= through`, oldest first, as another process delivers
/// them live: with their audience and the inbox rows still waiting for them.
pub(super) async fn peer_rows(c: &impl GenericClient, channel: &str, after: u64, through: u64, limit: i64) -> Result<Vec<PeerRow>, StoreError> {
    let sql = format!(
        "SELECT {ROW}, audience,
                CASE WHEN mentions IS NULL THEN NULL ELSE
                  (SELECT json_agg(json_build_array(i.agent, i.id))::text FROM inbox i WHERE i.message_id = m.id) END
         FROM messages m WHERE channel = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &[&channel, &(after as i64), &(through as i64), &limit]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let audience: Option<String> = r.get(9);
            let waiting: Option<String> = r.get(10);
            PeerRow {
                row: history_row(r, 0),
                audience: audience.map_or(Audience::Everyone, Audience::Workspace),
                waiting: waiting.and_then(|w| serde_json::from_str(&w).ok()).unwrap_or_default(),
            }
        })
        .collect())
}

/// Every channel's last `seq`.
pub(super) async fn heads(c: &impl GenericClient) -> Result<HashMap<String, u64>, StoreError> {
    let rows = c.query("SELECT channel, seq FROM channel_heads", &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect())
}

/// Rows of one channel: newest first, or oldest first after `after_seq`.
pub(super) async fn history(c: &impl GenericClient, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
    if let Some(root) = &q.thread {
        return thread(c, q, root).await;
    }
    if q.sender.is_some() || q.contains.is_some() {
        return filtered(c, q).await;
    }
    let since = q.since.clone().unwrap_or_default();
    let reader = reader_scope(&q.reader);
    let rows = match q.after_seq {
        Some(after) => {
            let sql = format!(
                "SELECT {ROW} FROM messages WHERE channel = $1 AND seq > $2 AND ts >= $3
                   AND ($5::text IS NULL OR audience IS NULL OR audience = $5) ORDER BY seq ASC LIMIT $4"
            );
            let stmt = c.prepare_cached(&sql).await?;
            c.query(&stmt, &[&q.channel, &(after as i64), &since, &q.limit, &reader]).await?
        }
        None => {
            let sql = format!(
                "SELECT {ROW} FROM messages WHERE channel = $1 AND ts >= $2
                   AND ($4::text IS NULL OR audience IS NULL OR audience = $4) ORDER BY seq DESC LIMIT $3"
            );
            let stmt = c.prepare_cached(&sql).await?;
            c.query(&stmt, &[&q.channel, &since, &q.limit, &reader]).await?
        }
    };
    Ok(rows.iter().map(|r| history_row(r, 0)).collect())
}

/// [`history`] with sender/text filters (ASCII case-insensitive text, as SQLite's `lower`).
async fn filtered(c: &impl GenericClient, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
    let order = if q.after_seq.is_some() { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {ROW} FROM messages WHERE channel = $1 AND seq > $2 AND ts >= $3
           AND ($4::text IS NULL OR sender = $4)
           AND ($5::text IS NULL OR strpos(lower(content COLLATE \"C\"), lower($5 COLLATE \"C\")) > 0)
           AND ($7::text IS NULL OR audience IS NULL OR audience = $7)
         ORDER BY seq {order} LIMIT $6"
    );
    let after = q.after_seq.unwrap_or(0) as i64;
    let since = q.since.clone().unwrap_or_default();
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &[&q.channel, &after, &since, &q.sender, &q.contains, &q.limit, &reader_scope(&q.reader)]).await?;
    Ok(rows.iter().map(|r| history_row(r, 0)).collect())
}

/// One thread of a channel, oldest first: the root and the replies under it at any depth;
/// `UNION` ends a cycle of replies.
async fn thread(c: &impl GenericClient, q: &HistoryQuery, root: &str) -> Result<Vec<HistoryRow>, StoreError> {
    let after = q.after_seq.unwrap_or(0) as i64;
    let sql = format!(
        "WITH RECURSIVE t(msg_id) AS (
             SELECT $2::text
             UNION
             SELECT m.msg_id FROM messages m JOIN t ON m.channel = $1 AND orochi_reply_to(m.metadata) = t.msg_id
         )
         SELECT {ROW} FROM messages WHERE channel = $1 AND msg_id IN (SELECT msg_id FROM t) AND seq > $3
           AND ($5::text IS NULL OR audience IS NULL OR audience = $5)
         ORDER BY seq ASC LIMIT $4"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let rows = c.query(&stmt, &[&q.channel, &root, &after, &q.limit, &reader_scope(&q.reader)]).await?;
    Ok(rows.iter().map(|r| history_row(r, 0)).collect())
}

/// The newest `limit` rows over all channels that `reader` may see, oldest first.
pub(super) async fn recent(c: &impl GenericClient, reader: &Principal, limit: i64) -> Result<Vec<HistoryRow>, StoreError> {
    let sql = format!(
        "SELECT {ROW} FROM messages WHERE ($2::text IS NULL OR audience IS NULL OR audience = $2) ORDER BY id DESC LIMIT $1"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let mut rows: Vec<HistoryRow> = c.query(&stmt, &[&limit, &reader_scope(reader)]).await?.iter().map(|r| history_row(r, 0)).collect();
    rows.reverse();
    Ok(rows)
}

/// Channels with rows `reader` may see.
pub(super) async fn channels(c: &impl GenericClient, reader: &Principal) -> Result<Vec<String>, StoreError> {
    let stmt = c
        .prepare_cached(
            "SELECT DISTINCT channel FROM messages WHERE ($1::text IS NULL OR audience IS NULL OR audience = $1) ORDER BY channel",
        )
        .await?;
    Ok(c.query(&stmt, &[&reader_scope(reader)]).await?.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn count(c: &impl GenericClient) -> Result<u64, StoreError> {
    Ok(c.query_one("SELECT COUNT(*) FROM messages", &[]).await?.get::<_, i64>(0) as u64)
}

/// Deletes the oldest rows beyond `keep`; returns how many went.
pub(super) async fn prune(c: &impl GenericClient, keep: u64) -> Result<u64, StoreError> {
    Ok(c.execute(
        "DELETE FROM messages WHERE id <= (SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET $1)",
        &[&(keep as i64)],
    )
    .await?)
}
