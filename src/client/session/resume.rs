//! Resuming channels by `seq`: each channel's position, the live frames held back while it
//! catches up, and the replay of what a reconnect missed (the connection's life is in the
//! parent).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::{Pending, Task, write};
use crate::client::ClientError;
use crate::client::dial::Ws;
use crate::protocol::{Frame, Kind};
// Replays ask for the largest page the hub serves.
use crate::protocol::limits::MAX_PAGE as RESUME_PAGE;

/// Per-channel position and the live frames held back while a channel catches up.
#[derive(Default)]
pub(super) struct Tracker {
    pub(super) last: BTreeMap<String, Option<u64>>,
    pub(super) syncing: HashMap<String, Vec<Frame>>,
}

impl Task {
    /// Asks for the channel's head (after == None) or the rows after `after`; live frames for
    /// it are held until the answer arrives.
    pub(super) async fn sync(&mut self, ws: &mut Ws, channel: &str, after: Option<u64>) -> Result<(), ClientError> {
        let mut payload = json!({"channel": channel, "limit": if after.is_some() { RESUME_PAGE } else { 1 }});
        if let Some(a) = after {
            payload["after_seq"] = a.into();
        }
        let q = Frame::new(Kind::Query, &self.opts.name, payload);
        self.tracker.syncing.entry(channel.to_string()).or_default();
        self.pending.insert(q.id.clone(), Pending::Sync(channel.to_string()));
        write(ws, &q).await
    }

    /// A sync answer: replay rows past the position, page on, then release held frames.
    pub(super) async fn synced(&mut self, ws: &mut Ws, channel: &str, mut reply: Frame) -> Result<(), ClientError> {
        // Taken, not copied: after a restart every agent replays what it missed at once.
        let rows = match reply.payload.remove("history") {
            Some(Value::Array(rows)) => rows,
            _ => Vec::new(),
        };
        let last = self.tracker.last.get(channel).copied().flatten();
        let Some(mut last) = last else {
            // Head learned: everything held arrived after subscribing, so all of it is new.
            let head = rows.first().and_then(|r| r["seq"].as_u64()).unwrap_or(0);
            let held = self.tracker.syncing.remove(channel).unwrap_or_default();
            let top = held.iter().filter_map(|f| f.seq).max().unwrap_or(0).max(head);
            self.tracker.last.insert(channel.to_string(), Some(top));
            for f in held {
                self.emit(f).await;
            }
            return Ok(());
        };
        let full = rows.len() as i64 >= RESUME_PAGE;
        for row in rows {
            let seq = row["seq"].as_u64().unwrap_or(0);
            if seq > last {
                last = seq;
                self.emit(row_to_frame(row)).await;
            }
        }
        self.tracker.last.insert(channel.to_string(), Some(last));
        if full {
            return self.sync(ws, channel, Some(last)).await;
        }
        for f in self.tracker.syncing.remove(channel).unwrap_or_default() {
            if f.seq.is_some_and(|s| s > last) {
                last = f.seq.unwrap_or(last);
                self.emit(f).await;
            }
        }
        self.tracker.last.insert(channel.to_string(), Some(last));
        Ok(())
    }

    pub(super) async fn live(&mut self, frame: Frame) {
        let channel = frame.channel().to_string();
        if let Some(held) = self.tracker.syncing.get_mut(&channel) {
            held.push(frame);
            return;
        }
        if let (Some(Some(last)), Some(seq)) = (self.tracker.last.get(&channel).copied(), frame.seq) {
            if seq <= last {
                return;
            }
            self.tracker.last.insert(channel, Some(seq));
        }
        self.emit(frame).await;
    }
}

/// A history row as the live frame it was.
/// Built whole from the row's own fields: `Frame::new` would draw an id and format the clock
/// only to have both replaced.
fn row_to_frame(row: Value) -> Frame {
    let mut row = match row {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut take = |k: &str| match row.remove(k) {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let (sender, id, ts) = (take("sender"), take("msg_id"), take("ts"));
    let mut payload = Map::new();
    payload.insert("channel".into(), take("channel").into());
    payload.insert("content".into(), take("content").into());
    if let Some(Value::Object(m)) = row.remove("metadata").filter(|m| m.as_object().is_some_and(|m| !m.is_empty())) {
        let attachments = m.get("attachments").cloned();
        payload.insert("metadata".into(), Value::Object(m));
        if let Some(a) = attachments {
            payload.insert("attachments".into(), a);
        }
    }
    Frame { kind: Kind::Message.as_str().into(), sender, payload, id, ts, seq: row.get("seq").and_then(Value::as_u64) }
}
