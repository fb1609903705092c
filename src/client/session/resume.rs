//! Resuming channels by `seq`: each channel's position, the live frames held back while it
//! catches up, and the replay of what a reconnect missed (the connection's life is in the
//! parent).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

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
    pub(super) async fn synced(&mut self, ws: &mut Ws, channel: &str, reply: Frame) -> Result<(), ClientError> {
        let rows = reply.payload.get("history").and_then(Value::as_array).cloned().unwrap_or_default();
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
                self.emit(row_to_frame(&row)).await;
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
fn row_to_frame(row: &Value) -> Frame {
    let s = |k: &str| row[k].as_str().unwrap_or_default().to_string();
    let mut payload = json!({"channel": s("channel"), "content": s("content")});
    if let Some(m) = row["metadata"].as_object().filter(|m| !m.is_empty()) {
        payload["metadata"] = Value::Object(m.clone());
        if let Some(a) = m.get("attachments") {
            payload["attachments"] = a.clone();
        }
    }
    let mut f = Frame::new(Kind::Message, &s("sender"), payload);
    f.id = s("msg_id");
    f.ts = s("ts");
    f.seq = row["seq"].as_u64();
    f
}
