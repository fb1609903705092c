//! The message path shared by the agent socket, the observer socket and REST. A checked
//! message (`protocol::Post`) is persisted (group commit); then, on the delivery task in commit
//! order, `HubState::after_commit` is the one place that says what follows: the frame,
//! serialized once, goes to everyone it reaches and to Web Push, and its [`Origin`] is told.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::ws::Message;
use tokio::sync::oneshot;

use crate::hub::HubState;
use crate::hub::socket::conn::Conn;
use crate::hub::store::{Appended, Audience, ClientKey, NewMessage, Placed, Recipient, StoreError, StoredMessage};
use crate::protocol::{ALL, ErrorCode, Frame, FrameError, Post, parse_mentions};

/// Where a message comes from: who may read it, and who learns its outcome after the commit.
pub enum Origin {
    /// An agent socket: acked on its own queue with the stored place (or told the message was
    /// not stored); `size` bytes of the frame leave the socket's uncommitted budget then.
    Socket {
        conn: Arc<Conn>,
        /// The client's frame id: the ack's `ref`, and with the workspace its idempotency key.
        frame_id: String,
        size: usize,
        audience: Audience,
    },
    /// A dashboard on the observer socket (the admin): not answered, as in the reference.
    Observer,
    /// `POST /api/messages` (the admin): the handler waits here to answer 201 with the place.
    Rest(oneshot::Sender<Result<Placed, StoreError>>),
    /// The hub's own note in one workspace's channel (the permission relay): not answered.
    Hub { workspace: String },
}

impl Origin {
    /// Who receives it live, and so who may read it later. The admin posting without a name
    /// (observer, REST) reaches every workspace on the channel.
    fn audience(&self) -> Audience {
        match self {
            Origin::Socket { audience, .. } => audience.clone(),
            Origin::Observer | Origin::Rest(_) => Audience::Everyone,
            Origin::Hub { workspace } => Audience::Workspace(workspace.clone()),
        }
    }

    /// The sender's idempotency key: only a socket names its frames.
    fn key(&self) -> Option<ClientKey> {
        match self {
            Origin::Socket { conn, frame_id, .. } => Some(ClientKey { workspace: conn.principal.workspace_id().to_string(), id: frame_id.clone() }),
            _ => None,
        }
    }

    /// Tells the origin where its message is stored (for a resent key, the first copy's place)
    /// or why it is not.
    fn answer(self, st: &HubState, result: Result<&Placed, &StoreError>) {
        match self {
            Origin::Socket { conn, frame_id, size, .. } => {
                let frame = match result {
                    Ok(placed) => Frame::ack(&frame_id, Some((placed.seq, &placed.msg_id))),
                    Err(e) => Frame::error(&FrameError {
                        reference: Some(frame_id.clone()),
                        ..FrameError::new(ErrorCode::StoreUnavailable, format!("not stored: {e}"))
                    }),
                };
                conn.send_text(frame.to_json(), &st.metrics);
                conn.message_committed(size);
            }
            Origin::Rest(tx) => {
                let _ = tx.send(result.cloned().map_err(Clone::clone));
            }
            Origin::Observer | Origin::Hub { .. } => {}
        }
    }
}

impl HubState {
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

    /// Runs one checked message through the pipeline. The hub names it: the live frame's `id`
    /// is the stored `msg_id`, never the client's frame id (that is the origin's key). `Ok`
    /// means queued for commit: `HubState::after_commit` will run and answer the origin.
    pub async fn submit(self: &Arc<Self>, post: Post, origin: Origin) -> Result<(), FrameError> {
        let Post { mut frame, channel, content, metadata } = post;
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
        let audience = origin.audience();
        let mut mentions = parse_mentions(&content);
        if mentions.iter().any(|m| m.eq_ignore_ascii_case(ALL)) {
            mentions = self.expand_all(mentions, &channel, &frame.sender, &audience).await?;
        }
        let inbox = self.inbox_for(&mentions, &frame.sender, &audience);
        // Time-ordered (UUID v7): the msg_id index grows at its right edge instead of taking
        // a random page per insert, which halved the group commit's throughput.
        frame.id = uuid::Uuid::now_v7().to_string();
        let msg = NewMessage {
            msg_id: frame.id.clone(),
            key: origin.key(),
            audience,
            ts: frame.ts.clone(),
            channel,
            sender: frame.sender.clone(),
            inbox,
            mentions,
            content,
            metadata,
            sender_type: if is_agent { "agent" } else { "human" },
        };
        let state = Arc::clone(self);
        let done = Box::new(move |result: Result<Appended, StoreError>| state.after_commit(frame, result, origin));
        self.store
            .append(msg, done)
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        Ok(())
    }

    /// What happens to a message once the store answered, on the delivery task in commit
    /// order: a new one goes live and to Web Push; then the origin learns where it is stored
    /// (for a resent key, the first copy's place: nothing new goes out) or why it is not.
    fn after_commit(&self, frame: Frame, result: Result<Appended, StoreError>, origin: Origin) {
        match result {
            Ok(Appended::New(stored)) => {
                self.deliver(frame, &stored);
                origin.answer(self, Ok(&stored.placed()));
            }
            Ok(Appended::Repeat(first)) => origin.answer(self, Ok(&first)),
            Err(e) => origin.answer(self, Err(&e)),
        }
    }

    /// Fans the stored message out and sends it to Web Push.
    fn deliver(&self, mut frame: Frame, stored: &StoredMessage) {
        self.metrics.messages_stored.inc();
        frame.seq = Some(stored.seq);
        let m = &stored.msg;
        let waiting: Vec<(&str, i64)> = m.inbox.iter().map(|r| r.agent.as_str()).zip(stored.inbox_ids.iter().copied()).collect();
        let out = Message::Text(frame.to_json().into());
        let scope = m.audience.scope();
        // Recorded as it goes out: see `heads`.
        self.heads.deliver(&m.channel, stored.seq, scope, &out, || self.fan_out(&out, &m.channel, &m.sender, &m.mentions, scope, &waiting));
        self.push.enqueue(&m.channel, &m.sender, &m.content, &m.mentions, scope);
    }

    /// Sends a stored message's frame (serialized once, by the caller) to every socket here it
    /// reaches; a `waiting` mention `(agent, inbox row)` is done once a socket of its agent took it.
    pub(super) fn fan_out(&self, out: &Message, channel: &str, sender: &str, mentions: &[String], scope: Option<&str>, waiting: &[(&str, i64)]) {
        let mut delivered = Vec::new();
        let reached = self.registry.deliver(out, channel, sender, mentions, scope, &self.metrics, |name| {
            let got = waiting.iter().filter(|(agent, _)| agent.eq_ignore_ascii_case(name));
            delivered.extend(got.map(|(_, id)| *id));
        });
        if !delivered.is_empty() {
            self.store.delivered(delivered);
        }
        self.metrics.deliveries.inc_by(reached);
    }
}
