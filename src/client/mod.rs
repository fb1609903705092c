//! `OrochiClient`: an agent's connection to the hub. One background task owns the socket;
//! calls are correlated with replies by `ref`, sends resolve on the durable ack (with `seq`),
//! and after a dropped connection the client reconnects with backoff and jitter, registers
//! again and replays every subscribed channel from its last `seq`, with no gap and no duplicate.

mod agent;
pub mod dial;
pub mod rest;
mod session;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::protocol::{ErrorCode, Frame, Kind};
use session::Command;
pub use agent::HistorySearch;
pub use status::ConnectionStatus;
use status::Shared;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the hub at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The hub's certificate (or the TLS handshake) failed: names the host and what was wrong.
    #[error(transparent)]
    Tls(crate::tls::TlsFailure),
    #[error("the hub refused the token")]
    AuthRefused,
    #[error("the hub answered {code}: {detail}")]
    Refused { code: String, detail: String },
    #[error("connection lost before the hub answered")]
    Disconnected,
    #[error("the client is closed")]
    Closed,
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

impl ClientError {
    /// Unreachable hub, failed TLS or refused token: the CLI's exit code 3.
    pub fn is_connectivity(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. } | ClientError::Tls(_) | ClientError::AuthRefused)
    }
}

/// Who the client is and where it connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `ws://host:port/` or `wss://host/ws/agent/` ([`crate::Config::hub_url`]); the token goes
    /// in an `Authorization: Bearer` header.
    pub url: String,
    pub token: String,
    pub name: String,
    pub machine: String,
    pub role: String,
    pub model: String,
    pub project: String,
    pub channels: Vec<String>,
    /// Send `register` on connect (and again after each reconnect).
    pub register: bool,
    /// Period of heartbeats with machine figures; `None` sends none.
    pub heartbeat: Option<Duration>,
    /// Reconnect after a dropped connection.
    pub reconnect: bool,
    /// Period of the client's own pings; an unanswered one drops the connection (and so
    /// reconnects). `None` sends none.
    pub ping: Option<Duration>,
    /// Extra `register` keys (`multiplexer`, `current_task`, `subagents`, …). Task and
    /// subagent updates are kept here too, so every re-register announces them again.
    pub profile: Map<String, Value>,
}

impl ClientOptions {
    pub fn new(url: impl Into<String>, token: impl Into<String>, name: impl Into<String>) -> Self {
        ClientOptions {
            url: url.into(),
            token: token.into(),
            name: name.into(),
            machine: crate::machine::hostname(),
            role: String::new(),
            model: String::new(),
            project: String::new(),
            channels: vec!["#general".into()],
            register: true,
            heartbeat: Some(Duration::from_secs(30)),
            reconnect: true,
            ping: Some(Duration::from_secs(15)),
            profile: Map::new(),
        }
    }
}

/// What `send` returns once the hub committed the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The hub's `msg_id`: what live frames, history rows and reactions name the message by.
    pub id: String,
    pub seq: u64,
}

pub struct OrochiClient {
    commands: mpsc::Sender<Command>,
    events: Mutex<mpsc::Receiver<Frame>>,
    name: String,
    shared: Arc<Shared>,
}

impl OrochiClient {
    /// Connects, registers when asked to, and starts the background task.
    pub async fn connect(options: ClientOptions) -> Result<OrochiClient, ClientError> {
        let name = options.name.clone();
        let shared = Arc::new(Shared::new(options.profile.clone()));
        let (commands, events) = session::start(options, shared.clone()).await?;
        Ok(OrochiClient { commands, events: Mutex::new(events), name, shared })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn request(&self, frame: Frame) -> Result<Frame, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Command::Request { frame, reply }).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    fn frame(&self, kind: Kind, payload: Value) -> Frame {
        Frame::new(kind, &self.name, payload)
    }

    /// Sends a message; resolves when the hub acked it after the commit. A message whose ack a
    /// dropped connection lost is sent again after the reconnect, with the same frame id, which
    /// the hub stores once.
    pub async fn send(&self, channel: &str, content: &str, metadata: Option<Map<String, Value>>) -> Result<Receipt, ClientError> {
        let mut payload = json!({"channel": channel, "content": content});
        if let Some(m) = metadata {
            payload["metadata"] = Value::Object(m);
        }
        let ack = self.request(self.frame(Kind::Message, payload)).await?;
        let (seq, id) = (ack.payload.get("seq").and_then(Value::as_u64), ack.str_field("msg_id"));
        match (seq, id) {
            (Some(seq), Some(id)) => Ok(Receipt { id: id.to_string(), seq }),
            _ => Err(ClientError::Protocol("the ack carries no seq or msg_id (is this a current Rust hub?)".into())),
        }
    }

    /// Online agents and their channels.
    pub async fn who(&self) -> Result<Map<String, Value>, ClientError> {
        let reply = self.request(self.frame(Kind::Presence, json!({}))).await?;
        match reply.payload.get("agents") {
            Some(Value::Object(m)) => Ok(m.clone()),
            _ => Err(ClientError::Protocol("presence reply without agents".into())),
        }
    }

    /// History rows of a channel, newest first (oldest first when `after_seq` is given).
    pub async fn query_history(&self, channel: &str, limit: i64, after_seq: Option<u64>) -> Result<Vec<Value>, ClientError> {
        let mut payload = json!({"channel": channel, "limit": limit});
        if let Some(s) = after_seq {
            payload["after_seq"] = s.into();
        }
        let reply = self.request(self.frame(Kind::Query, payload)).await?;
        match reply.payload.get("history") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(ClientError::Protocol("history reply without rows".into())),
        }
    }

    pub async fn subscribe(&self, channel: &str) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Subscribe { channel: channel.to_string(), join: true, reply };
        self.commands.send(cmd).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    pub async fn unsubscribe(&self, channel: &str) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Subscribe { channel: channel.to_string(), join: false, reply };
        self.commands.send(cmd).await.map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)?
    }

    /// `status_update` with any of `status` and `current_task`.
    pub async fn update_status(&self, status: Option<&str>, current_task: Option<&str>) -> Result<(), ClientError> {
        let mut payload = json!({});
        if let Some(s) = status {
            payload["status"] = s.into();
        }
        if let Some(t) = current_task {
            payload["current_task"] = t.into();
        }
        self.request(self.frame(Kind::StatusUpdate, payload)).await.map(drop)
    }

    /// One heartbeat now, with this machine's figures.
    pub async fn heartbeat(&self) -> Result<(), ClientError> {
        self.request(self.frame(Kind::Heartbeat, Value::Object(crate::machine::collect()))).await.map(drop)
    }

    /// The next message for this agent: live, or replayed after a reconnect.
    pub async fn recv(&self) -> Option<Frame> {
        self.events.lock().await.recv().await
    }

    /// Messages as a stream.
    pub fn listen(&self) -> impl Stream<Item = Frame> + '_ {
        futures_util::stream::unfold(self, |c| async move { c.recv().await.map(|f| (f, c)) })
    }

    /// Closes the socket and stops reconnecting.
    pub async fn close(&self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

pub(crate) fn refused(payload: &Map<String, Value>) -> ClientError {
    let code = payload.get("code").and_then(Value::as_str).unwrap_or("UNKNOWN").to_string();
    if code == ErrorCode::AuthFailed.as_str() {
        return ClientError::AuthRefused;
    }
    let detail = payload.get("detail").and_then(Value::as_str).unwrap_or("").to_string();
    ClientError::Refused { code, detail }
}
