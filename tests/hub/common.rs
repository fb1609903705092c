//! Shared test helpers: a real hub on 127.0.0.1 with ephemeral ports and a temporary data
//! folder, and a raw WebSocket peer that speaks JSON frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use scitex_orochi::Config;
use scitex_orochi::hub::{self, RunningHub};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const ADMIN: &str = "test-admin-token";
pub const WAIT: Duration = Duration::from_secs(5);

/// The keys every `/api/agents` entry has in the reference; ours may carry more.
pub const REFERENCE_AGENT_KEYS: &[&str] = &[
    "name", "channels", "machine", "role", "model", "agent_id", "project", "multiplexer", "status", "current_task",
    "subagent_count", "resources", "last_heartbeat", "workspace_id", "registered_at",
];

pub struct TestHub {
    pub hub: RunningHub,
    pub dir: tempfile::TempDir,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut c = Config::defaults();
    c.port = 0;
    c.dashboard_port = 0;
    c.db = scitex_orochi::config::DbLocation::File(dir.join("orochi.db"));
    c.media_root = dir.join("media");
    c.admin_token = ADMIN.into();
    c.db_sync = "normal".into();
    c
}

pub async fn start_hub() -> TestHub {
    start_hub_with(|_| {}).await
}

pub async fn start_hub_with(tweak: impl FnOnce(&mut Config)) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    let mut c = test_config(dir.path());
    tweak(&mut c);
    let hub = hub::start(c).await.expect("hub starts");
    TestHub { hub, dir }
}

impl TestHub {
    pub fn ws_url(&self) -> String {
        self.hub.ws_url()
    }

    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.hub.http_url())
    }

    /// A new workspace's token.
    pub async fn workspace_token(&self, name: &str) -> String {
        let w = create_workspace(&self.hub.http_url(), name).await;
        w["token"].as_str().unwrap_or_else(|| panic!("workspace created: {w}")).to_string()
    }

    /// An unregistered socket with `token`.
    pub async fn raw(&self, token: &str) -> Peer {
        Peer::connect(&format!("{}?token={token}", self.ws_url())).await
    }

    /// A registered agent socket (admin token), its register ack consumed.
    pub async fn agent(&self, name: &str, channels: &[&str]) -> Peer {
        let mut p = self.raw(ADMIN).await;
        p.register(name, channels).await;
        p
    }
}

pub struct Peer {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Peer {
    pub async fn connect(url: &str) -> Peer {
        let (ws, _) = connect_async(url).await.expect("websocket connects");
        Peer { ws }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// The next text frame as JSON; panics after [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame within the wait").expect("socket open").expect("frame");
            match msg {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
                Message::Close(c) => panic!("socket closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Frames until one matches, returning it.
    pub async fn recv_until(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let f = self.recv().await;
            if pred(&f) {
                return f;
            }
        }
    }

    /// No text frame within `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(d, self.ws.next()).await {
            panic!("unexpected frame: {t}");
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("close within the wait") {
                Some(Ok(Message::Close(Some(c)))) => return c.code.into(),
                Some(Ok(Message::Close(None))) | None => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error instead of close: {e}"),
            }
        }
    }

    pub async fn register(&mut self, name: &str, channels: &[&str]) -> Value {
        self.send(json!({"type": "register", "sender": name, "id": format!("reg-{name}"), "payload": {"channels": channels, "machine": "test-host"}})).await;
        self.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == format!("reg-{name}")).await
    }

    /// Sends a message and returns its ack (after the commit).
    pub async fn say(&mut self, sender: &str, channel: &str, content: &str) -> Value {
        let id = uuid::Uuid::new_v4().to_string();
        self.send(json!({"type": "message", "sender": sender, "id": id, "payload": {"channel": channel, "content": content}})).await;
        self.recv_until(|f| f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await
    }
}


/// A workspace made through the admin API at `http_base`; the reply carries its `id` and the
/// `token` it comes with.
pub async fn create_workspace(http_base: &str, name: &str) -> Value {
    let reply = reqwest::Client::new().post(format!("{http_base}/api/workspaces")).bearer_auth(ADMIN).json(&json!({"name": name})).send().await;
    reply.unwrap().json().await.unwrap()
}

/// A port free right now on 127.0.0.1, for hubs that must come back on the same address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `/healthz` answers.
pub async fn wait_healthy(http_base: &str) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(format!("{http_base}/healthz")).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("hub at {http_base} never became healthy");
}

/// Every row of a channel, oldest first, paging by `after_seq`.
pub async fn all_rows(http_base: &str, channel: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut after = 0;
    loop {
        let url = format!("{http_base}/api/history/{}?after_seq={after}&limit=1000", channel.trim_start_matches('#'));
        let page: Vec<Value> = reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        let n = page.len();
        if let Some(last) = page.last() {
            after = last["seq"].as_u64().unwrap();
        }
        rows.extend(page);
        if n < 1000 {
            return rows;
        }
    }
}

/// Waits until `done` says yes, asking every few milliseconds (for up to [`WAIT`]): for a
/// state change nothing announces, such as a socket's session finishing.
pub async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "still not {what} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
