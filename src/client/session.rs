//! The background task behind `OrochiClient`: owns the socket, correlates replies by `ref`,
//! and keeps every subscribed channel gapless across reconnects (see `resume`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::dial::{self, DialError, Ws};
use super::status::Shared;
use super::{ClientError, ClientOptions, refused};
use crate::protocol::{ErrorCode, Frame, Kind, SERVER_SENDER, close, parse_frame};
use resume::Tracker;
use schedule::{DIAL_LIMIT, RESTART_TCP_LIMIT, RESTART_WINDOW, backoff, restart_delay};

mod resume;
mod schedule;

/// Frames the hub sends on its own that the client hands on, besides messages.
const HUB_EVENTS: &[Kind] = &[Kind::PermissionVerdict, Kind::PermissionExpired];

/// tungstenite zero-fills its whole read buffer (128 KiB by default) before every read: a
/// fleet of clients reconnecting at once would spend its CPU on that. Larger frames still
/// arrive whole, over several reads.
const READ_BUFFER: usize = 8 * 1024;

pub enum Command {
    Request { frame: Frame, reply: oneshot::Sender<Result<Frame, ClientError>> },
    Subscribe { channel: String, join: bool, reply: oneshot::Sender<Result<(), ClientError>> },
    Close,
}

/// What a reply with a given `ref` completes.
enum Pending {
    Caller(oneshot::Sender<Result<Frame, ClientError>>),
    /// A message not acked yet: sent again, with the same id, after a reconnect. The hub keys
    /// messages by (sender, frame id), so a copy it already stored is acked with its first place
    /// and not stored twice. `order` keeps resends in the order of the first sends.
    Send { frame: Frame, order: u64, reply: oneshot::Sender<Result<Frame, ClientError>> },
    Subscribe { channel: String, join: bool, reply: oneshot::Sender<Result<(), ClientError>> },
    /// Learning a channel's head `seq` (limit 1) or replaying after a known one.
    Sync(String),
}

pub async fn start(opts: ClientOptions, shared: Arc<Shared>) -> Result<(mpsc::Sender<Command>, mpsc::Receiver<Frame>), ClientError> {
    let ws = open(&opts, None).await?;
    let (commands, command_rx) = mpsc::channel(1024);
    let (events_tx, events) = mpsc::channel(10_000);
    let tracker = Tracker { last: opts.channels.iter().map(|c| (c.clone(), None)).collect(), ..Default::default() };
    let mut task = Task { opts, events: events_tx, pending: HashMap::new(), sends: 0, tracker, shared };
    let ws = task.handshake(ws).await?;
    task.shared.connected(false);
    tokio::spawn(task.run(ws, command_rx));
    Ok((commands, events))
}

/// Dials the hub; `tcp_limit` bounds the TCP connection (see [`dial::connect_within`]).
async fn open(opts: &ClientOptions, tcp_limit: Option<Duration>) -> Result<Ws, ClientError> {
    let unreachable = |reason: String| ClientError::Unreachable { url: crate::config::redact_token(&opts.url), reason };
    let mut request = opts.url.as_str().into_client_request().map_err(|e| unreachable(format!("bad URL: {e}")))?;
    // In a header rather than `?token=`: proxies and edges log URLs.
    if !opts.token.is_empty() {
        let bearer = HeaderValue::from_str(&format!("Bearer {}", opts.token)).map_err(|_| unreachable("the token is not a valid header value".into()))?;
        request.headers_mut().insert(AUTHORIZATION, bearer);
    }
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (ws, _) = dial::connect_within(request, Some(config), tcp_limit).await.map_err(|e| match e {
        DialError::Tls(t) => ClientError::Tls(t),
        other => unreachable(other.to_string()),
    })?;
    Ok(ws)
}

/// Sends `frame` and waits for its ack; an error frame for it (or one without `ref`, as a
/// refused token's) is the refusal. Returns the ack and the frames that came before it (a
/// registered agent's live messages may).
async fn acked(ws: &mut Ws, frame: &Frame) -> Result<(Frame, Vec<Frame>), ClientError> {
    write(ws, frame).await?;
    let mut before = Vec::new();
    loop {
        let Some(Ok(msg)) = ws.next().await else { return Err(ClientError::Disconnected) };
        let Some(reply) = decode(msg) else { continue };
        let reference = reply.str_field("ref");
        match reply.kind.parse::<Kind>() {
            Ok(Kind::Error) if reference.is_none() || reference == Some(&frame.id) => return Err(refused(&reply.payload)),
            Ok(Kind::Ack) if reference == Some(&frame.id) => return Ok((reply, before)),
            _ => before.push(reply),
        }
    }
}

async fn write(ws: &mut Ws, frame: &Frame) -> Result<(), ClientError> {
    ws.send(Message::text(frame.to_json())).await.map_err(|_| ClientError::Disconnected)
}

struct Task {
    opts: ClientOptions,
    events: mpsc::Sender<Frame>,
    pending: HashMap<String, Pending>,
    /// Number of the next message send (see [`Pending::Send`]).
    sends: u64,
    tracker: Tracker,
    shared: Arc<Shared>,
}

impl Task {
    /// Registers (when asked) and starts syncing every tracked channel the hub did not say
    /// is caught up (`resume` positions); then handles what arrived before the ack.
    async fn handshake(&mut self, mut ws: Ws) -> Result<Ws, ClientError> {
        let (ack, before) = if self.opts.register {
            let o = &self.opts;
            let channels: Vec<&String> = self.tracker.last.keys().collect();
            let mut payload = json!({"channels": channels, "machine": o.machine, "role": o.role, "model": o.model, "project": o.project});
            let positions: Map<String, Value> = self.tracker.last.iter().filter_map(|(c, s)| s.map(|s| (c.clone(), s.into()))).collect();
            if let Value::Object(p) = &mut payload {
                p.extend(self.shared.profile());
                if !positions.is_empty() {
                    p.insert("resume".into(), Value::Object(positions));
                }
            }
            let answer = acked(&mut ws, &Frame::new(Kind::Register, &o.name, payload)).await?;
            // Announced again on this connection; their acks find no caller and are dropped.
            for frame in self.shared.standing() {
                write(&mut ws, &frame).await?;
            }
            answer
        } else {
            // The hub answers a refused token after the client's first frame: an empty
            // heartbeat (acked, and harmless on an unregistered socket) learns it at once.
            acked(&mut ws, &Frame::new(Kind::Heartbeat, &self.opts.name, json!({}))).await?
        };
        let caught_up = ack.payload.get("caught_up").and_then(Value::as_array);
        let is_caught_up = |c: &str| caught_up.is_some_and(|list| list.iter().any(|v| v.as_str() == Some(c)));
        let channels: Vec<(String, Option<u64>)> =
            self.tracker.last.iter().filter(|(c, s)| s.is_none() || !is_caught_up(c)).map(|(c, s)| (c.clone(), *s)).collect();
        for (channel, after) in channels {
            self.sync(&mut ws, &channel, after).await?;
        }
        for frame in before {
            self.incoming(&mut ws, frame).await?;
        }
        Ok(ws)
    }

    async fn run(mut self, mut ws: Ws, mut commands: mpsc::Receiver<Command>) {
        let mut attempt = 0u32;
        loop {
            let ended = self.serve(&mut ws, &mut commands).await;
            let ends = ended == Ended::Closed || !self.opts.reconnect;
            self.fail_pending(!ends);
            self.shared.disconnected(ends);
            if ends {
                break;
            }
            let restart = (ended == Ended::Restart).then(Instant::now);
            // The old socket goes before the first dial, not after the last: a fleet that kept
            // its old sockets open while redialling would hold twice its ports, and the kernel's
            // search for a free local port (every socket goes to the same hub address) would
            // then cost each connect a scan of thousands of taken ones.
            drop(ws);
            ws = loop {
                let delay = match restart {
                    Some(since) if since.elapsed() < RESTART_WINDOW => restart_delay(),
                    _ => {
                        attempt += 1;
                        backoff(attempt)
                    }
                };
                tokio::time::sleep(delay).await;
                let tcp_limit = if restart.is_some_and(|since| since.elapsed() < RESTART_WINDOW) { RESTART_TCP_LIMIT } else { DIAL_LIMIT };
                let opened = tokio::time::timeout(DIAL_LIMIT, open(&self.opts, Some(tcp_limit))).await.unwrap_or_else(|_| Err(ClientError::Disconnected));
                match opened {
                    Ok(w) => match self.handshake(w).await {
                        Ok(w) => break w,
                        Err(ClientError::AuthRefused) => {
                            tracing::error!("hub refused the token on reconnect; giving up");
                            self.fail_pending(false);
                            self.shared.disconnected(true);
                            return;
                        }
                        // E.g. NAME_TAKEN: the admin released our name and another workspace took it.
                        Err(e @ ClientError::Refused { .. }) => tracing::warn!(error = %e, "the hub refused our register; retrying"),
                        Err(e) => tracing::debug!(error = %e, "reconnect handshake failed"),
                    },
                    Err(e) => tracing::debug!(error = %e, attempt, "reconnect failed"),
                }
            };
            attempt = 0;
            self.shared.connected(true);
            tracing::info!(agent = %self.opts.name, "reconnected; resuming channels");
            // A failed resend shows as a failed read in `serve`, which reconnects again.
            let _ = self.resend(&mut ws).await;
        }
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, ws: &mut Ws, commands: &mut mpsc::Receiver<Command>) -> Ended {
        let period = self.opts.heartbeat.unwrap_or(Duration::from_secs(3600));
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // Our own pings: the first at once (so the pong age is known early); a hub that leaves
        // one unanswered for a whole period is taken as gone even if TCP never says so.
        let ping_every = self.opts.ping.unwrap_or(Duration::from_secs(3600));
        let mut ping = tokio::time::interval(ping_every);
        let mut unanswered: Option<Instant> = None;
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Close) => {
                        let _ = ws.close(None).await;
                        return Ended::Closed;
                    }
                    Some(Command::Request { frame, reply }) => {
                        let sent = write(ws, &frame).await;
                        let pending = if frame.is(Kind::Message) {
                            self.sends += 1;
                            Pending::Send { frame: frame.clone(), order: self.sends, reply }
                        } else {
                            Pending::Caller(reply)
                        };
                        self.pending.insert(frame.id.clone(), pending);
                        if sent.is_err() { return Ended::Lost; }
                    }
                    Some(Command::Subscribe { channel, join, reply }) => {
                        let f = Frame::new(if join { Kind::Subscribe } else { Kind::Unsubscribe }, &self.opts.name, json!({"channel": channel}));
                        self.pending.insert(f.id.clone(), Pending::Subscribe { channel, join, reply });
                        if write(ws, &f).await.is_err() { return Ended::Lost; }
                    }
                },
                msg = ws.next() => match msg {
                    Some(Ok(Message::Pong(_))) => {
                        unanswered = None;
                        self.shared.pong();
                    }
                    Some(Ok(Message::Close(Some(c)))) if u16::from(c.code) == close::RESTART => {
                        tracing::info!(agent = %self.opts.name, "hub restarting; reconnecting at once");
                        return Ended::Restart;
                    }
                    Some(Ok(Message::Close(Some(c)))) if u16::from(c.code) == close::REPLACED => {
                        // Another connection took this name: reconnecting would only take it
                        // back and start a replace loop between the two.
                        tracing::error!(agent = %self.opts.name, "replaced by another connection with the same name; not reconnecting");
                        self.opts.reconnect = false;
                        return Ended::Lost;
                    }
                    Some(Ok(m)) => {
                        if let Some(frame) = decode(m)
                            && self.incoming(ws, frame).await.is_err()
                        {
                            return Ended::Lost;
                        }
                    }
                    _ => return Ended::Lost,
                },
                _ = ping.tick(), if self.opts.ping.is_some() => {
                    if unanswered.is_some_and(|t| t.elapsed() >= ping_every) {
                        tracing::warn!(agent = %self.opts.name, "hub did not answer a ping; reconnecting");
                        return Ended::Lost;
                    }
                    unanswered.get_or_insert_with(Instant::now);
                    if ws.send(Message::Ping(Default::default())).await.is_err() { return Ended::Lost; }
                }
                _ = beat.tick(), if self.opts.heartbeat.is_some() && self.opts.register => {
                    let f = Frame::new(Kind::Heartbeat, &self.opts.name, Value::Object(crate::machine::collect()));
                    if write(ws, &f).await.is_err() { return Ended::Lost; }
                }
            }
        }
    }

    async fn incoming(&mut self, ws: &mut Ws, frame: Frame) -> Result<(), ClientError> {
        let reference = frame.str_field("ref").map(String::from);
        let from_hub = frame.sender == SERVER_SENDER;
        if from_hub && let Some(r) = reference {
            if let Some(p) = self.pending.remove(&r) {
                return self.complete(ws, p, frame).await;
            }
            return Ok(());
        }
        if from_hub && frame.is(Kind::Error) && frame.str_field("code") == Some(ErrorCode::AuthFailed.as_str()) {
            self.opts.reconnect = false;
            return Err(ClientError::AuthRefused);
        }
        if frame.is(Kind::Message) && !from_hub {
            self.live(frame).await;
        } else if from_hub && HUB_EVENTS.iter().any(|k| frame.is(*k)) {
            self.emit(frame).await;
        }
        Ok(())
    }

    async fn complete(&mut self, ws: &mut Ws, pending: Pending, frame: Frame) -> Result<(), ClientError> {
        let result = if frame.is(Kind::Error) { Err(refused(&frame.payload)) } else { Ok(frame) };
        match pending {
            Pending::Caller(reply) | Pending::Send { reply, .. } => {
                let _ = reply.send(result);
            }
            Pending::Subscribe { channel, join, reply } => {
                if result.is_ok() {
                    if join {
                        self.tracker.last.entry(channel.clone()).or_insert(None);
                        self.sync(ws, &channel, None).await?;
                    } else {
                        self.tracker.last.remove(&channel);
                        self.tracker.syncing.remove(&channel);
                    }
                }
                let _ = reply.send(result.map(drop));
            }
            Pending::Sync(channel) => {
                let frame = result.map_err(|e| ClientError::Protocol(format!("sync of {channel} failed: {e}")))?;
                self.synced(ws, &channel, frame).await?;
            }
        }
        Ok(())
    }

    async fn emit(&self, frame: Frame) {
        let _ = self.events.send(frame).await;
    }

    /// Fails what the lost connection can no longer answer; unacked messages stay for
    /// [`Task::resend`] when `keep_sends` (a reconnect follows).
    fn fail_pending(&mut self, keep_sends: bool) {
        let pending = std::mem::take(&mut self.pending);
        for (id, p) in pending {
            match p {
                Pending::Send { .. } if keep_sends => drop(self.pending.insert(id, p)),
                Pending::Caller(reply) | Pending::Send { reply, .. } => drop(reply.send(Err(ClientError::Disconnected))),
                Pending::Subscribe { reply, .. } => drop(reply.send(Err(ClientError::Disconnected))),
                Pending::Sync(_) => {}
            }
        }
        self.tracker.syncing.clear();
    }

    /// Sends every unacked message again, in first-send order, with its original id.
    async fn resend(&mut self, ws: &mut Ws) -> Result<(), ClientError> {
        let mut unacked: Vec<(u64, &Frame)> = self
            .pending
            .values()
            .filter_map(|p| match p {
                Pending::Send { frame, order, .. } => Some((*order, frame)),
                _ => None,
            })
            .collect();
        unacked.sort_by_key(|(order, _)| *order);
        if !unacked.is_empty() {
            tracing::info!(agent = %self.opts.name, count = unacked.len(), "resending unacked messages");
        }
        for (_, frame) in unacked {
            write(ws, frame).await?;
        }
        Ok(())
    }
}

fn decode(msg: Message) -> Option<Frame> {
    match msg {
        Message::Text(t) => parse_frame(t.as_str()).ok(),
        _ => None,
    }
}

/// Why [`Task::serve`] returned.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The caller closed the client.
    Closed,
    /// The hub closed with 1012: a planned restart, back in a moment.
    Restart,
    /// Anything else: the socket failed or the hub closed otherwise.
    Lost,
}
