//! The agent socket (port 9559, any path; and `/ws/agent/` on the HTTP listener, so one origin
//! serves everything; `Authorization: Bearer` or `?token=`): one session per connection,
//! frames handled in arrival order, replies and acks queued on the connection's own writer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::state::auth::{self, Principal, hash_token, presented_token};
use crate::hub::socket::conn::{Conn, close_code, write_loop};
use crate::hub::pipeline::inbox;
use crate::hub::socket::listener::ClientAddr;
use crate::hub::features::permissions;
use crate::hub::pipeline::payload::{
    MAX_RESOURCE_BYTES, as_int, current_task, json_max, opt_str, required_channel, string_list,
};
use crate::hub::state::profile;
use crate::hub::socket::rate::TokenBucket;
use crate::hub::state::registry::{Agent, AgentInfo, RESOURCE_KEYS};
use crate::hub::pipeline::router::Origin;
use crate::hub::pipeline::history::Params;
use crate::hub::store::{Audience, ClientKey, HistoryQuery, MembershipChange, Placed, StoreError};
use crate::protocol::{ErrorCode, Frame, FrameError, now_ts, parse_frame};

/// Read buffer of each socket: allocated (and zero-filled) for the socket's whole life, so it
/// is most of an idle connection's memory. Larger frames are read in several steps.
pub const READ_BUFFER: usize = 2 * 1024;
/// Bytes gathered before a write to the socket; only sockets that receive traffic grow a buffer.
pub const WRITE_BUFFER: usize = 8 * 1024;

pub fn router(state: Arc<HubState>) -> Router {
    Router::new().fallback(any(upgrade)).with_state(state)
}

/// The same socket on the HTTP listener.
pub fn routes() -> Router<Arc<HubState>> {
    Router::new().route("/ws/agent", any(upgrade)).route("/ws/agent/", any(upgrade))
}

/// `?agent=`: the sender of frames that name none (the TypeScript bridge builds its URL so);
/// checked like any agent name.
fn default_sender(query: Option<&str>) -> Result<Option<String>, String> {
    let Some(name) = query.and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "agent")).map(|(_, v)| v.into_owned()) else {
        return Ok(None);
    };
    crate::hub::state::names::check(&name).map(|()| Some(name)).map_err(|e| e.to_string())
}

async fn upgrade(
    State(state): State<Arc<HubState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    client: Option<Extension<ClientAddr>>,
    ws: WebSocketUpgrade,
) -> Response {
    let default_sender = match default_sender(query.as_deref()) {
        Ok(a) => a,
        Err(detail) => return (StatusCode::BAD_REQUEST, format!("agent: {detail}")).into_response(),
    };
    let token = presented_token(&headers, query.as_deref());
    let principal = match auth::verify(&state.store, &state.admin_token, &token).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "token check failed");
            None
        }
    };
    let token_hash = matches!(principal, Some(Principal::Workspace(_))).then(|| hash_token(&token));
    let hard_cap = hard_cap(state.config.max_frame_bytes);
    // Small socket buffers: most agents are idle most of the time, and tungstenite's defaults
    // (128 KiB each way) would dominate the memory of an idle connection.
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            match principal {
                // Its own task: axum's upgrade task would hold the session future next to its
                // own state for the connection's whole life (measured: 7 KB instead of 3).
                Some(p) => drop(tokio::spawn(Session::run(state, socket, p, token_hash, client.map(|c| c.0.0), default_sender))),
                None => reject(socket).await,
            }
        })
}

/// How long a refused socket waits for the client's first frame before it is told.
const REJECT_AFTER: Duration = Duration::from_secs(1);

/// The reference's way: finish the upgrade, send AUTH_FAILED, close with 4001. Told after the
/// client's first frame (or a second): a client that registers right after connecting then
/// reads the refusal as a reply, as against the reference, instead of failing on a closed socket.
async fn reject(mut socket: WebSocket) {
    use axum::extract::ws::CloseFrame;
    let _ = tokio::time::timeout(REJECT_AFTER, async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Text(_) | Message::Binary(_) | Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    let err = FrameError::new(ErrorCode::AuthFailed, "Invalid or missing token");
    let _ = socket.send(Message::Text(Frame::error(&err).to_json().into())).await;
    let close = CloseFrame { code: close_code::AUTH_FAILED, reason: "Authentication failed".into() };
    let _ = socket.send(Message::Close(Some(close))).await;
}

/// What to do after a frame was handled.
enum Flow {
    Ack,
    /// The pipeline acks after the commit.
    Deferred,
    /// Nothing more to send.
    Done,
}

struct Session {
    state: Arc<HubState>,
    conn: Arc<Conn>,
    /// The name this socket registered, once it has.
    name: Option<String>,
    /// `message` frames this socket may still send now.
    bucket: TokenBucket,
    /// `?agent=` of the upgrade: the sender of frames without one until the socket registers.
    default_sender: Option<String>,
}

impl Session {
    async fn run(
        state: Arc<HubState>,
        socket: WebSocket,
        principal: Principal,
        token_hash: Option<String>,
        client_addr: Option<IpAddr>,
        default_sender: Option<String>,
    ) {
        let (sink, mut stream) = socket.split();
        let (mut conn, outbox) = Conn::new(principal, state.config.queue_frames as usize, state.config.queue_bytes as usize);
        conn.token_hash = token_hash;
        conn.client_addr = client_addr;
        let conn = Arc::new(conn);
        let _listed = state.live_tokens.list(&conn);
        let ping = Duration::from_secs(state.config.ping_interval_secs.max(1));
        let idle = ping + Duration::from_secs(state.config.ping_timeout_secs.max(1));
        // A socket must say something soon; until it has, it holds a place for nothing.
        let speak_by = Instant::now() + Duration::from_secs(state.config.register_timeout_secs.max(1));
        let mut spoke = false;
        let mut writer = tokio::spawn(write_loop(sink, outbox, Some(ping), Some(inbox::requeue_on_cut(&state, &conn))));
        state.metrics.agent_connections.inc();
        // The admin token is trusted (and drives the load generator); workspace tokens are not.
        let bucket = match conn.principal {
            Principal::Admin => TokenBucket::unlimited(),
            _ => TokenBucket::new(state.config.rate_messages_per_sec, state.config.rate_burst),
        };
        let mut stopping = state.shutdown.clone();
        let mut session = Session { state, conn, name: None, bucket, default_sender };
        let mut writer_done = false;
        loop {
            let wait = if spoke { idle } else { idle.min(speak_by.saturating_duration_since(Instant::now())) };
            tokio::select! {
                _ = &mut writer => { writer_done = true; break }
                // The hub stops: read no more, let this socket's messages commit (their acks
                // are queued by then), and close with 1012 after the acks.
                // (A dropped `RunningHub` does not stop the hub: then this never fires.)
                _ = async { if stopping.wait_for(|s| *s).await.is_err() { std::future::pending::<()>().await } } => {
                    session.conn.own_writes_committed().await;
                    session.conn.close(close_code::RESTART, crate::hub::RESTART_REASON);
                    break;
                }
                next = tokio::time::timeout(wait, stream.next()) => match next {
                    Err(_) if !spoke && Instant::now() >= speak_by => {
                        session.conn.close(close_code::SILENT, "no frame within the register timeout");
                        break;
                    }
                    Err(_) => { session.conn.close(close_code::PING_TIMEOUT, "no pong within the ping timeout"); break; }
                    Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break,
                    Ok(Some(Err(e))) => {
                        tracing::debug!(conn = session.conn.id, error = %e, "agent socket read failed");
                        let (code, reason) = close_code::for_read_error(e);
                        session.conn.close(code, reason);
                        break;
                    }
                    // Boxed: a task is as large as its largest await, and handling a frame is
                    // most of it; idle connections (most of them) should not carry that.
                    Ok(Some(Ok(Message::Text(t)))) => { spoke = true; Box::pin(session.handle(t.as_str())).await }
                    Ok(Some(Ok(Message::Binary(b)))) => {
                        spoke = true;
                        match std::str::from_utf8(&b) {
                            Ok(t) => Box::pin(session.handle(t)).await,
                            Err(_) => session.refuse(FrameError::new(ErrorCode::ParseError, "binary frame is not valid UTF-8")),
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                }
            }
        }
        session.finish((!writer_done).then_some(writer)).await;
    }

    async fn finish(self, writer: Option<tokio::task::JoinHandle<()>>) {
        let st = &self.state;
        if let Some(name) = &self.name {
            let removed = {
                let mut inner = st.registry.write();
                // Only if this socket still holds the name (it may have been replaced).
                match inner.agents.get(name) {
                    Some(a) if a.conn.id == self.conn.id => inner.remove_agent(name).is_some(),
                    _ => false,
                }
            };
            if removed {
                st.announce_disconnect(name);
            }
        }
        self.conn.close(1000, "");
        drop(self.conn);
        if let Some(w) = writer {
            let _ = tokio::time::timeout(Duration::from_secs(3), w).await;
        }
        st.metrics.agent_connections.dec();
    }

    fn send(&self, frame: &Frame) {
        self.conn.send_text(frame.to_json(), &self.state.metrics);
    }

    fn refuse(&self, err: FrameError) {
        self.state.metrics.frame_errors.inc();
        self.send(&Frame::error(&err));
    }

    async fn handle(&mut self, text: &str) {
        if let Err(e) = check_frame_size(text, self.state.config.max_frame_bytes) {
            return self.refuse(e);
        }
        let mut frame = match parse_frame(text) {
            Ok(f) => f,
            Err(e) => return self.refuse(e),
        };
        if let (None, Some(agent)) = (&self.name, &self.default_sender)
            && frame.sender == "unknown"
        {
            frame.sender = agent.clone();
        }
        let id = frame.id.clone();
        let result = match frame.kind.as_str() {
            "register" => self.register(frame).await,
            "message" => self.message(frame, text.len()).await,
            "subscribe" | "unsubscribe" => self.membership(frame).await,
            "query" => self.query(frame).await,
            "presence" => self.presence(&frame),
            "heartbeat" => self.heartbeat(&frame),
            "status_update" => self.status_update(&frame),
            "permission_request" => self.permission_request(&frame).await,
            kind if profile::KINDS.contains(&kind) => self.profile(&frame).await,
            other => {
                let err = FrameError::new(ErrorCode::UnknownType, format!("Unknown message type: {other}"));
                self.refuse(FrameError { reference: Some(id.clone()), ..err });
                // The reference acks unknown types too, except frames that are themselves errors.
                if other == "error" { Ok(Flow::Done) } else { Ok(Flow::Ack) }
            }
        };
        match result {
            Ok(Flow::Ack) => self.send(&Frame::ack(&id, None)),
            Ok(Flow::Deferred | Flow::Done) => {}
            Err(mut e) => {
                e.reference = Some(id);
                self.refuse(e);
            }
        }
    }

    fn registered(&self) -> Result<&str, FrameError> {
        self.name
            .as_deref()
            .ok_or_else(|| FrameError::new(ErrorCode::NotRegistered, "send register first"))
    }

    async fn register(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let name = frame.sender.clone();
        let st = self.state.clone();
        // Within the workspace the newest register replaces the older socket (below); another
        // workspace is refused here and the holder keeps its socket.
        st.names.claim(self.conn.principal.workspace_id(), &name).await?;
        let p = &frame.payload;
        let max_channels = self.state.config.max_channels_per_agent as usize;
        let channels = string_list(p, "channels", max_channels)?;
        let text = |key: &str| opt_str(p, key).map(|v| v.unwrap_or_default());
        let task = current_task(p)?.unwrap_or_default();
        let machine = text("machine")?;
        let agent_id = opt_str(p, "agent_id")?.filter(|s| !s.is_empty()).unwrap_or_else(|| {
            let host = if machine.is_empty() { crate::machine::hostname() } else { machine.clone() };
            format!("{name}@{host}")
        });
        let saved = st.store.saved_channels(name.clone()).await.map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        if !channels.is_empty() {
            persist_membership(&st, &name, channels.clone(), true).await?;
        }
        let subagents = profile::subagents(p)?;
        let now = now_ts();
        let mut info = AgentInfo {
            name: name.clone(),
            // Channels saved before the cap was lowered stay remembered but are not joined.
            channels: channels.iter().chain(saved.iter()).take(max_channels).cloned().collect(),
            machine: machine.clone(),
            role: text("role")?,
            model: text("model")?,
            agent_id,
            project: text("project")?,
            multiplexer: text("multiplexer")?,
            status: "online".into(),
            current_task: task,
            subagent_count: p.get("subagent_count").and_then(as_int).unwrap_or(0),
            subagents: Vec::new(),
            health: None,
            resources: Map::new(),
            last_heartbeat: now.clone(),
            workspace_id: self.conn.principal.workspace_id().to_string(),
            registered_at: now,
        };
        if let Some(list) = subagents {
            info.subagent_count = list.len() as i64;
            info.subagents = list;
        }
        let connected = json!({
            "agent": name, "event": "connected", "channels": info.channels, "agent_id": info.agent_id, "project": info.project,
        });
        let stale = Duration::from_secs(st.config.stale_secs);
        let mut evicted = Vec::new();
        {
            let mut inner = st.registry.write();
            if let Some(old) = self.name.take().filter(|old| *old != name) {
                inner.remove_agent(&old);
            }
            if let Some(prev) = inner.remove_agent(&name).filter(|a| a.conn.id != self.conn.id) {
                prev.conn.close(close_code::REPLACED, "Replaced by new connection");
            }
            if !machine.is_empty() {
                evicted = inner.stale_on_machine(&machine, stale);
                for n in &evicted {
                    if let Some(a) = inner.remove_agent(n) {
                        a.conn.close(close_code::STALE, "stale: evicted by a new agent on the same machine");
                    }
                }
            }
            inner.insert_agent(Agent { conn: self.conn.clone(), info, seen: Instant::now() });
        }
        for n in &evicted {
            st.announce_disconnect(n);
        }
        self.name = Some(name.clone());
        st.registry.to_observers(&Frame::server("presence_change", connected), &st.metrics);
        self.send(&Frame::ack(&frame.id, None));
        st.permissions.agent_back(&name);
        inbox::hand_over(&self.state, &self.conn, name).await;
        Ok(Flow::Done)
    }

    /// `size`: the frame's length, counted against the socket's budget until the commit.
    /// One token of the socket's message budget, or RATE_LIMITED after the wait for the next.
    async fn take_token(&mut self) -> Result<(), FrameError> {
        if let Err(next_token) = self.bucket.try_take() {
            // Not reading meanwhile: a flooder waits in its own socket buffers, not our CPU.
            tokio::time::sleep(next_token).await;
            let c = &self.state.config;
            return Err(FrameError::new(
                ErrorCode::RateLimited,
                format!(
                    "over {} messages/s (burst {}); not stored, send again later (SCITEX_OROCHI_RATE_MESSAGES_PER_SEC)",
                    c.rate_messages_per_sec, c.rate_burst
                ),
            ));
        }
        Ok(())
    }

    async fn message(&mut self, mut frame: Frame, size: usize) -> Result<Flow, FrameError> {
        self.take_token().await?;
        frame.ts = now_ts();
        let st = &self.state;
        let principal = &self.conn.principal;
        // A registered socket speaks as its name; an unregistered one (the CLI's `send`, a
        // second socket of the bridge's workspace) as any name its workspace holds or claims.
        match &self.name {
            Some(name) if frame.sender == "unknown" => frame.sender = name.clone(),
            Some(name) if frame.sender != *name => {
                return Err(FrameError::new(
                    ErrorCode::SenderMismatch,
                    format!("this socket is registered as {name:?} and cannot send as {:?}", frame.sender),
                ));
            }
            _ => {}
        }
        st.names.claim(principal.workspace_id(), &frame.sender).await?;
        // The reference's routing: the admin without a registered name reaches everyone,
        // every other sender its own workspace ("" for the admin's agents).
        let audience = match (&self.name, principal) {
            (None, Principal::Admin) => Audience::Everyone,
            _ => Audience::Workspace(principal.workspace_id().to_string()),
        };
        let id = frame.id.clone();
        let origin = Origin { audience, key: Some(ClientKey { workspace: principal.workspace_id().to_string(), id: id.clone() }) };
        let conn = self.conn.clone();
        let state = self.state.clone();
        let reply = Box::new(move |result: Result<&Placed, &StoreError>| {
            let frame = match result {
                Ok(placed) => Frame::ack(&id, Some((placed.seq, &placed.msg_id))),
                Err(e) => Frame::error(&FrameError {
                    reference: Some(id.clone()),
                    ..FrameError::new(ErrorCode::StoreUnavailable, format!("not stored: {e}"))
                }),
            };
            conn.send_text(frame.to_json(), &state.metrics);
            conn.message_committed(size);
        });
        st.answer_from_chat(&self.conn, &frame);
        st.submit(frame, origin, reply).await?;
        self.conn.message_submitted(size);
        self.conn.uncommitted_within_budget().await;
        Ok(Flow::Deferred)
    }

    async fn membership(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let name = self.registered()?.to_string();
        let channel = required_channel(&frame.payload)?;
        let join = frame.kind == "subscribe";
        {
            let mut inner = self.state.registry.write();
            if join {
                let cap = self.state.config.max_channels_per_agent as usize;
                let held = inner.agents.get(&name).map_or(0, |a| a.info.channels.len());
                if held >= cap && !inner.agents.get(&name).is_some_and(|a| a.info.channels.contains(&channel)) {
                    return Err(FrameError::new(
                        ErrorCode::FieldTooLarge,
                        format!("{name} is in {held} channels; the limit is {cap} (SCITEX_OROCHI_MAX_CHANNELS_PER_AGENT)"),
                    ));
                }
                inner.join(&name, &channel);
            } else {
                inner.leave(&name, &channel);
            }
        }
        persist_membership(&self.state, &name, vec![channel], join).await?;
        Ok(Flow::Ack)
    }

    async fn query(&mut self, frame: Frame) -> Result<Flow, FrameError> {
        let p = &frame.payload;
        let channel = opt_str(p, "channel")?.filter(|c| !c.is_empty()).unwrap_or_else(|| "#general".into());
        let q = HistoryQuery::from_params(self.conn.principal.clone(), channel.clone(), Params::Frame(p))?;
        // A client reads its own writes: wait for its messages still in the group commit.
        self.conn.own_writes_committed().await;
        let rows = self
            .state
            .store
            .history(q)
            .await
            .map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
        let history: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
        let payload = json!({"channel": channel, "content": "", "history": history, "ref": frame.id});
        self.send(&Frame::server("message", payload));
        Ok(Flow::Ack)
    }

    fn presence(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let principal = &self.conn.principal;
        let agents: Map<String, Value> = {
            let inner = self.state.registry.read();
            inner
                .agents
                .iter()
                .filter(|(_, a)| *principal == Principal::Admin || a.info.workspace_id == principal.workspace_id())
                .map(|(n, a)| (n.clone(), json!(a.info.channels)))
                .collect()
        };
        self.send(&Frame::server("presence", json!({"agents": agents, "ref": frame.id})));
        Ok(Flow::Ack)
    }

    fn heartbeat(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let Some(name) = &self.name else { return Ok(Flow::Ack) };
        let p = &frame.payload;
        let task = current_task(p)?;
        let mut resources = Map::new();
        for (key, v) in p.iter().filter(|(k, _)| RESOURCE_KEYS.contains(&k.as_str())) {
            json_max(p, key, MAX_RESOURCE_BYTES)?;
            resources.insert(key.clone(), v.clone());
        }
        let mut inner = self.state.registry.write();
        if let Some(a) = inner.agents.get_mut(name).filter(|a| a.conn.id == self.conn.id) {
            if !resources.is_empty() {
                a.info.resources = resources;
            }
            if let Some(t) = task {
                a.info.current_task = t;
            }
            if let Some(n) = p.get("subagent_count").and_then(as_int) {
                a.info.subagent_count = n;
            }
            a.touch();
        }
        Ok(Flow::Ack)
    }

    /// A relayed tool-permission prompt (see `permissions`): acked with its hub id; one
    /// announced again after a reconnect and decided meanwhile gets its outcome after the ack.
    async fn permission_request(&mut self, frame: &Frame) -> Result<Flow, FrameError> {
        // Each request notifies people: it spends the socket's message budget.
        self.take_token().await?;
        let r = self.state.ask_permission(&self.conn, self.registered()?, frame).await?;
        let mut ack = Frame::ack(&frame.id, None);
        ack.payload.extend(permissions::ack_extra(&r));
        self.send(&ack);
        if r.status != "pending" {
            self.send(&permissions::outcome_frame(&r));
        }
        Ok(Flow::Done)
    }

    /// `react`, `health`, `task_update`, `subagents_update`: acked with what changed.
    async fn profile(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let extra = profile::handle(&self.state, &self.conn.principal, self.registered()?, frame).await?;
        let mut ack = Frame::ack(&frame.id, None);
        ack.payload.extend(extra);
        self.send(&ack);
        Ok(Flow::Done)
    }

    fn status_update(&self, frame: &Frame) -> Result<Flow, FrameError> {
        let name = self.registered()?;
        let p = &frame.payload;
        let mut fields = Vec::new();
        for key in ["status", "machine", "role", "project", "agent_id"] {
            if let Some(v) = opt_str(p, key)? {
                fields.push((key, v));
            }
        }
        if let Some(v) = current_task(p)? {
            fields.push(("current_task", v));
        }
        let count = p.get("subagent_count").and_then(as_int);
        let event = {
            let mut inner = self.state.registry.write();
            if let Some(i) = fields.iter().position(|(key, _)| *key == "machine") {
                inner.set_machine(name, fields.swap_remove(i).1);
            }
            let Some(a) = inner.agents.get_mut(name) else { return Ok(Flow::Ack) };
            let i = &mut a.info;
            for (key, v) in fields {
                let slot = match key {
                    "status" => &mut i.status,
                    "current_task" => &mut i.current_task,
                    "role" => &mut i.role,
                    "project" => &mut i.project,
                    _ => &mut i.agent_id,
                };
                *slot = v;
            }
            if let Some(n) = count {
                i.subagent_count = n;
            }
            a.touch();
            a.info.status_event()
        };
        self.state.registry.to_observers(&Frame::new("status_update", name, event), &self.state.metrics);
        Ok(Flow::Ack)
    }
}

/// Frames over the limit (and under the hard cap, which closes 1009) get FRAME_TOO_LARGE.
pub(crate) fn check_frame_size(text: &str, limit: u64) -> Result<(), FrameError> {
    if text.len() as u64 > limit {
        return Err(FrameError::new(
            ErrorCode::FrameTooLarge,
            format!("frame is {} bytes; the limit is {limit} (SCITEX_OROCHI_MAX_FRAME_BYTES)", text.len()),
        ));
    }
    Ok(())
}

/// The hard cap a socket reads: frames above it close the socket with 1009.
pub(crate) fn hard_cap(max_frame_bytes: u64) -> usize {
    max_frame_bytes.saturating_mul(4) as usize
}

async fn persist_membership(st: &HubState, name: &str, channels: Vec<String>, join: bool) -> Result<(), FrameError> {
    st.store.change_membership(MembershipChange { agent: name.to_string(), channels, join }).await.map_err(|e| FrameError::new(ErrorCode::StoreUnavailable, e.to_string()))
}

