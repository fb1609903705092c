//! The message pipeline shared by the agent socket, the observer socket and REST: validate,
//! persist (group commit), then — on the writer thread, in commit order — fan out the frame
//! serialized once, and tell the origin.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::ws::Message;
use serde_json::{Map, Value};

use crate::hub::HubState;
use crate::hub::store::{Appended, Audience, ClientKey, NewMessage, Placed, Recipient, StoreError};
use crate::hub::pipeline::payload::{field_type, json_max, required_channel};
use crate::protocol::{ALL, ErrorCode, Frame, FrameError, parse_mentions};

/// How the origin of a message learns its outcome, after the commit: where it is stored (the
/// first copy's place for a resent key).
pub type Reply = Box<dyn FnOnce(Result<&Placed, &StoreError>) + Send>;

/// Where a message comes from, as the pipeline needs it.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Who receives it live, and so who may read it later.
    pub audience: Audience,
    /// The sender's idempotency key, when the client named its frame (the agent socket).
    pub key: Option<ClientKey>,
}

impl HubState {
    /// Checks the payload shape and limits of a `message` frame: a message that would not be
    /// stored is refused here, never acknowledged.
    fn check_message(&self, frame: &Frame) -> Result<(), FrameError> {
        let p = &frame.payload;
        field_type(p, "channel", "string")?;
        field_type(p, "content", "string")?;
        field_type(p, "text", "string")?;
        field_type(p, "metadata", "object")?;
        field_type(p, "attachments", "array")?;
        required_channel(p)?;
        let max_metadata = self.config.max_metadata_bytes as usize;
        json_max(p, "metadata", max_metadata)?;
        json_max(p, "attachments", max_metadata)?;
        let len = frame.content().len() as u64;
        if len > self.config.max_content_bytes {
            return Err(FrameError::new(
                ErrorCode::ContentTooLarge,
                format!("content is {len} bytes; the limit is {} (SCITEX_OROCHI_MAX_CONTENT_BYTES)", self.config.max_content_bytes),
            ));
        }
        Ok(())
    }

    /// Whose inbox keeps the message: each mentioned name (but the sender's) held by the
    /// workspace that may read it, or by any workspace for a message to everyone.
    fn inbox_for(&self, mentions: &[String], sender: &str, audience: &Audience) -> Vec<Recipient> {
        let mut out: Vec<Recipient> = Vec::new();
        for name in mentions {
            if name.eq_ignore_ascii_case(sender) || out.iter().any(|r| r.agent.eq_ignore_ascii_case(name)) {
                continue;
            }
            let Some(holder) = self.names.holder(name) else { continue };
            if audience.scope().is_none_or(|w| w == holder) {
                out.push(Recipient { workspace: holder, agent: name.clone() });
            }
        }
        out
    }

    /// The mentions with `@all` (any case) replaced by every agent member of the channel the
    /// sender's audience reaches, connected (the live channel) or not (remembered membership),
    /// each once and never the sender: the inbox, push and delivery then treat them as named.
    async fn expand_all(&self, mentions: Vec<String>, channel: &str, sender: &str, audience: &Audience) -> Result<Vec<String>, FrameError> {
        let stored = self.store.channel_members(channel.to_string()).await.map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let live: Vec<String> = self.registry.read().channels.get(channel).map(|m| m.iter().cloned().collect()).unwrap_or_default();
        let mut out: Vec<String> = mentions.into_iter().filter(|m| !m.eq_ignore_ascii_case(ALL)).collect();
        // Names compare without case; a set keeps a large channel's expansion linear.
        let mut named: HashSet<String> = out.iter().map(|m| m.to_ascii_lowercase()).collect();
        named.insert(sender.to_ascii_lowercase());
        for name in live.into_iter().chain(stored) {
            let reachable = audience.scope().is_none_or(|w| self.names.holder(&name).is_some_and(|h| h == w));
            if reachable && named.insert(name.to_ascii_lowercase()) {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Runs one message through the pipeline. The hub names it: the live frame's `id` is the
    /// stored `msg_id`, never the client's frame id (that is `origin.key`). `Ok` means queued
    /// for commit: the reply will run.
    pub async fn submit(self: &Arc<Self>, mut frame: Frame, origin: Origin, reply: Reply) -> Result<(), FrameError> {
        self.check_message(&frame)?;
        let is_agent = {
            let mut inner = self.registry.write();
            match inner.agents.get_mut(&frame.sender) {
                Some(a) => {
                    a.touch();
                    true
                }
                None => false,
            }
        };
        let mut metadata = match frame.payload.get("metadata") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if let Some(Value::Array(att)) = frame.payload.get("attachments")
            && !att.is_empty()
        {
            metadata.insert("attachments".into(), Value::Array(att.clone()));
            // Forwarded frames carry it too, as the reference does.
            frame.payload.insert("metadata".into(), Value::Object(metadata.clone()));
        }
        let content = frame.content().to_string();
        // `text` is an alias (the TypeScript bridge sends it): recipients read `content`.
        if !matches!(frame.payload.get("content"), Some(Value::String(_))) {
            frame.payload.insert("content".into(), Value::String(content.clone()));
        }
        let mut mentions = parse_mentions(&content);
        if mentions.iter().any(|m| m.eq_ignore_ascii_case(ALL)) {
            mentions = self.expand_all(mentions, frame.channel(), &frame.sender, &origin.audience).await?;
        }
        let inbox = self.inbox_for(&mentions, &frame.sender, &origin.audience);
        // Time-ordered (UUID v7): the msg_id index grows at its right edge instead of taking
        // a random page per insert, which halved the group commit's throughput.
        frame.id = uuid::Uuid::now_v7().to_string();
        let msg = NewMessage {
            msg_id: frame.id.clone(),
            key: origin.key,
            audience: origin.audience,
            ts: frame.ts.clone(),
            channel: frame.channel().to_string(),
            sender: frame.sender.clone(),
            inbox,
            mentions,
            content,
            metadata,
            sender_type: if is_agent { "agent" } else { "human" },
        };
        let state = Arc::clone(self);
        let done = Box::new(move |result: Result<Appended, StoreError>| match result {
            Ok(Appended::New(stored)) => {
                state.metrics.messages_stored.inc();
                frame.seq = Some(stored.seq);
                let out = Message::Text(frame.to_json().into());
                let m = &stored.msg;
                // A waiting mention is done once a socket of its agent took the live frame.
                let mut delivered = Vec::new();
                let reached = state.registry.deliver(&out, &m.channel, &m.sender, &m.mentions, m.audience.scope(), &state.metrics, |name| {
                    let got = m.inbox.iter().zip(&stored.inbox_ids).filter(|(r, _)| r.agent.eq_ignore_ascii_case(name));
                    delivered.extend(got.map(|(_, id)| *id));
                });
                if !delivered.is_empty() {
                    state.store.delivered(delivered);
                }
                state.metrics.deliveries.inc_by(reached);
                state.push.enqueue(&m.channel, &m.sender, &m.content, &m.mentions, m.audience.scope());
                reply(Ok(&stored.placed()));
            }
            Ok(Appended::Repeat(first)) => reply(Ok(&first)),
            Err(e) => reply(Err(&e)),
        });
        self.store
            .append(msg, done)
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        Ok(())
    }
}
