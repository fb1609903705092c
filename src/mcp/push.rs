//! Push: every hub message the client receives (its channels and @mentions, live or replayed
//! after a reconnect) becomes one `notifications/claude/channel`, except this agent's own
//! messages and anything already pushed.

use std::collections::{HashSet, VecDeque};

use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ServerNotification};
use rmcp::service::Peer;
use serde_json::{Value, json};

use super::link::Link;
use super::permissions::Relay;
use crate::client::rest::Rest;
use crate::protocol::{Frame, Kind};

/// Message ids remembered for de-duplication.
const REMEMBER: usize = 10_000;
/// Attachments listed per notification.
const MAX_ATTACHMENTS: usize = 10;

pub const METHOD: &str = "notifications/claude/channel";

/// The last [`REMEMBER`] ids, oldest dropped first.
#[derive(Default)]
pub struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// True the first time an id is offered.
    pub fn first(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_string()) {
            return false;
        }
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBER
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

fn attachments(frame: &Frame) -> &[Value] {
    frame
        .payload
        .get("attachments")
        .or_else(|| frame.payload.get("metadata").and_then(|m| m.get("attachments")))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `{content, meta: {chat_id, user, ts, msg_id, reply_to?}}`; every meta value is a string, as
/// Claude Code drops notifications with other types. `reply_to` names the parent of a reply.
pub fn notification(frame: &Frame, rest: &Rest) -> Value {
    let mut content = frame.content().to_string();
    let attachments = attachments(frame);
    if !attachments.is_empty() {
        let mut listed: Vec<String> = attachments
            .iter()
            .take(MAX_ATTACHMENTS)
            .map(|a| {
                let url = a["url"].as_str().unwrap_or_default();
                format!("{} -> {}", a["filename"].as_str().unwrap_or("file"), rest.absolute(url))
            })
            .collect();
        if attachments.len() > MAX_ATTACHMENTS {
            listed.push(format!("+{} more", attachments.len() - MAX_ATTACHMENTS));
        }
        content.push_str(&format!("\n[Attachments: {}]", listed.join(", ")));
    }
    let channel = if frame.channel().is_empty() { "#general" } else { frame.channel() };
    let mut note = json!({"content": content, "meta": {"chat_id": channel, "user": frame.sender, "ts": frame.ts, "msg_id": frame.id}});
    if let Some(parent) = frame.payload.get("metadata").and_then(|m| m.get("reply_to")).and_then(Value::as_str) {
        note["meta"]["reply_to"] = parent.into();
    }
    note
}

/// Forwards messages, and permission outcomes to the relay, until the client or the MCP peer
/// goes away.
pub async fn pump(link: &Link, rest: &Rest, agent: &str, relay: &Relay, peer: Peer<RoleServer>) {
    let Some(client) = link.ready().await else { return };
    let mut seen = Seen::default();
    while let Some(frame) = client.recv().await {
        if !frame.is(Kind::Message) {
            if !relay.outcome(link, &frame, &peer).await {
                tracing::info!("MCP client gone; push stops");
                return;
            }
            continue;
        }
        if frame.sender == agent || !seen.first(&frame.id) {
            continue;
        }
        if frame.content().is_empty() && attachments(&frame).is_empty() {
            continue;
        }
        let params = notification(&frame, rest);
        let note = ServerNotification::CustomNotification(CustomNotification::new(METHOD, Some(params)));
        if let Err(e) = peer.send_notification(note).await {
            tracing::info!(error = %e, "MCP client gone; push stops");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupe_forgets_the_oldest() {
        let mut s = Seen::default();
        assert!(s.first("a"));
        assert!(!s.first("a"));
        for i in 0..REMEMBER {
            s.first(&i.to_string());
        }
        assert!(s.first("a"), "a fell out of the window");
    }

    #[test]
    fn meta_values_are_strings_and_attachments_absolute() {
        let rest = Rest::new("http://127.0.0.1:8559", "", std::time::Duration::from_secs(60));
        let mut f = Frame::new(Kind::Message, "alice", json!({"channel": "#dev", "content": "see",
            "attachments": [{"filename": "a.png", "url": "/media/2026-01/x.png"}]}));
        f.seq = Some(4);
        let n = notification(&f, &rest);
        assert_eq!(n["content"], "see\n[Attachments: a.png -> http://127.0.0.1:8559/media/2026-01/x.png]");
        for v in n["meta"].as_object().unwrap().values() {
            assert!(v.is_string());
        }
        assert_eq!(n["meta"]["chat_id"], "#dev");
    }
}
