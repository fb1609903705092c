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

use crate::hub::HubState;
use crate::hub::state::auth::{self, Principal, hash_token, presented_token};
use crate::hub::socket::conn::{Conn, close_code, write_loop};
use crate::hub::pipeline::inbox;
use crate::hub::socket::listener::ClientAddr;
use crate::hub::state::names::{self, NameError};
use crate::hub::state::profile;
use crate::hub::socket::rate::TokenBucket;
use crate::hub::store::MembershipChange;
use crate::protocol::{Command, ErrorCode, Frame, FrameError, Kind, parse_frame};

mod frames;

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
fn default_sender(query: Option<&str>) -> Result<Option<String>, NameError> {
    let Some(name) = query.and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "agent")).map(|(_, v)| v.into_owned()) else {
        return Ok(None);
    };
    names::check(&name).map(|()| Some(name))
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
        let result = self.dispatch(frame, &id, text.len()).await;
        match result {
            Ok(Flow::Ack) => self.send(&Frame::ack(&id, None)),
            Ok(Flow::Deferred | Flow::Done) => {}
            Err(mut e) => {
                e.reference = Some(id);
                self.refuse(e);
            }
        }
    }

    /// `id`: the frame's; `size`: its length, counted against the socket's budget until its
    /// commit.
    async fn dispatch(&mut self, mut frame: Frame, id: &str, size: usize) -> Result<Flow, FrameError> {
        if let Some(flow) = self.admit(&mut frame).await? {
            return Ok(flow);
        }
        match Command::from_frame(frame, &self.state.limits())? {
            Command::Register(r) => self.register(id, r).await,
            Command::Message(post) => self.message(post, size).await,
            Command::Subscribe(channel) => self.membership(channel, true).await,
            Command::Unsubscribe(channel) => self.membership(channel, false).await,
            Command::Query(q) => self.query(id, q).await,
            Command::Presence => self.presence(id).await,
            Command::Heartbeat(h) => self.heartbeat(h),
            Command::StatusUpdate(u) => self.status_update(u),
            Command::PermissionRequest(ask) => self.permission_request(id, ask).await,
            Command::React { message_id, emoji } => {
                let extra = profile::react(&self.state, &self.conn.principal, self.registered()?, message_id, emoji).await?;
                Ok(self.ack_with(id, extra))
            }
            Command::Health(payload) => {
                let extra = profile::health(&self.state, &self.conn.principal, self.registered()?, &payload).await?;
                Ok(self.ack_with(id, extra))
            }
            Command::TaskUpdate(task) => Ok(self.ack_with(id, profile::task(&self.state, self.registered()?, task)?)),
            Command::SubagentsUpdate(list) => Ok(self.ack_with(id, profile::subagents(&self.state, self.registered()?, list)?)),
            Command::Unknown(other) => {
                let err = FrameError::new(ErrorCode::UnknownType, format!("Unknown message type: {other}"));
                self.refuse(FrameError { reference: Some(id.to_string()), ..err });
                // The reference acks unknown types too, except frames that are themselves errors.
                if other == Kind::Error.as_str() { Ok(Flow::Done) } else { Ok(Flow::Ack) }
            }
        }
    }

    /// What the hub checks before it reads a frame's payload, in the order it always has: the
    /// sender's name, its registration and its message budget come first, so a faulty payload
    /// still spends a token and a frame with several faults is told about the same one.
    /// `Some`: the frame is answered without reading it (a heartbeat before `register`).
    async fn admit(&mut self, frame: &mut Frame) -> Result<Option<Flow>, FrameError> {
        let Ok(kind) = frame.kind.parse::<Kind>() else { return Ok(None) };
        match kind {
            Kind::Register => self.state.names.claim(self.conn.principal.workspace_id(), &frame.sender).await?,
            Kind::Message => self.admit_message(frame).await?,
            Kind::PermissionRequest => {
                // Each request notifies people: it spends the socket's message budget.
                self.take_token().await?;
                self.registered()?;
            }
            Kind::Heartbeat if self.name.is_none() => return Ok(Some(Flow::Ack)),
            Kind::Subscribe | Kind::Unsubscribe | Kind::StatusUpdate | Kind::React | Kind::Health | Kind::TaskUpdate | Kind::SubagentsUpdate => {
                self.registered()?;
            }
            _ => {}
        }
        Ok(None)
    }

    /// Sends the ack of frame `id` with `extra` keys describing what changed.
    fn ack_with(&self, id: &str, extra: serde_json::Map<String, serde_json::Value>) -> Flow {
        let mut ack = Frame::ack(id, None);
        ack.payload.extend(extra);
        self.send(&ack);
        Flow::Done
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

