//! A real hub on 127.0.0.1 and the real `scitex-orochi mcp` child, spoken to over stdio with
//! newline-delimited JSON-RPC as Claude Code does.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use scitex_orochi::Config;
use scitex_orochi::hub::{self, RunningHub};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

pub const ADMIN: &str = "mcp-test-admin-token";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Hub {
    pub hub: Option<RunningHub>,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

fn config(dir: &Path, port: u16, dashboard_port: u16) -> Config {
    let mut c = Config::defaults();
    c.port = port;
    c.dashboard_port = dashboard_port;
    c.db = scitex_orochi::config::DbLocation::File(dir.join("orochi.db"));
    c.media_root = dir.join("media");
    c.admin_token = ADMIN.into();
    c.db_sync = "normal".into();
    c
}

/// A port free right now, so a restarted hub can come back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Hub {
    pub async fn start() -> Hub {
        Self::start_with(|_| {}).await
    }

    /// A hub whose settings `tweak` changed.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), free_port(), free_port());
        tweak(&mut config);
        let hub = hub::start(config.clone()).await.expect("hub starts");
        Hub { hub: Some(hub), dir, config }
    }

    fn running(&self) -> &RunningHub {
        self.hub.as_ref().expect("hub running")
    }

    pub fn ws_url(&self) -> String {
        self.running().ws_url()
    }

    pub fn http(&self, path: &str) -> String {
        format!("{}{path}", self.running().http_url())
    }

    pub async fn get(&self, path: &str) -> Value {
        reqwest::Client::new().get(self.http(path)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
    }

    /// Stops the hub and starts it again on the same ports and database.
    pub async fn restart(&mut self) {
        self.hub.take().expect("hub running").shutdown().await;
        for _ in 0..50 {
            if let Ok(h) = hub::start(self.config.clone()).await {
                self.hub = Some(h);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("hub did not come back on its ports");
    }

    /// Another agent on the hub, registered on `channels`.
    pub async fn peer(&self, name: &str, channels: &[&str]) -> scitex_orochi::OrochiClient {
        let mut o = scitex_orochi::ClientOptions::new(self.ws_url(), ADMIN, name);
        o.channels = channels.iter().map(|c| c.to_string()).collect();
        scitex_orochi::OrochiClient::connect(o).await.expect("peer connects")
    }
}

pub struct Mcp {
    pub child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    notes: VecDeque<Value>,
    next_id: u64,
    pub files: PathBuf,
    pub downloads: PathBuf,
}

impl Mcp {
    /// Spawns the bridge as agent `agent` and completes the MCP handshake; returns it with the
    /// `initialize` result.
    pub async fn start(hub: &Hub, agent: &str, extra_env: &[(&str, &str)]) -> (Mcp, Value) {
        let files = hub.dir.path().join(format!("files-{agent}"));
        let downloads = hub.dir.path().join(format!("downloads-{agent}"));
        std::fs::create_dir_all(&files).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
        cmd.arg("mcp")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SCITEX_OROCHI_HOST", "127.0.0.1")
            .env("SCITEX_OROCHI_PORT", hub.config.port.to_string())
            .env("SCITEX_OROCHI_DASHBOARD_PORT", hub.config.dashboard_port.to_string())
            .env("SCITEX_OROCHI_TOKEN", ADMIN)
            .env("SCITEX_OROCHI_AGENT", agent)
            .env("SCITEX_OROCHI_CHANNELS", "#general")
            .env("SCITEX_OROCHI_MCP_DIRS", &files)
            .env("SCITEX_OROCHI_MCP_DOWNLOAD_DIR", &downloads)
            .env("SCITEX_OROCHI_LOG", "warn")
            .current_dir(&files)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the binary starts");
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout is not JSON-RPC ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut mcp = Mcp { child, stdin, lines, notes: VecDeque::new(), next_id: 1, files, downloads };
        let init = mcp
            .request("initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "orochi-test", "version": "1"}}))
            .await;
        mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        (mcp, init["result"].clone())
    }

    /// Sends a client notification.
    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params})).await;
    }

    async fn send(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.expect("server reads stdin");
        self.stdin.flush().await.unwrap();
    }

    async fn next_line(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.lines.recv()).await.ok().flatten()
    }

    /// A request's response; notifications met on the way are kept for [`Mcp::notification`].
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await;
        loop {
            let v = self.next_line(WAIT).await.unwrap_or_else(|| panic!("no answer to {method} within {WAIT:?}"));
            if v["id"] == id {
                return v;
            }
            if v.get("method").is_some() {
                self.notes.push_back(v);
            }
        }
    }

    /// `tools/call`: whether it is an error, and the JSON of its text.
    pub async fn call(&mut self, tool: &str, args: Value) -> (bool, Value) {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args})).await;
        let result = &r["result"];
        assert!(result.is_object(), "{tool} answered with a JSON-RPC error, not a tool result: {r}");
        let text = result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{tool}: no text content: {r}"));
        (result["isError"] == true, serde_json::from_str(text).unwrap_or_else(|_| json!(text)))
    }

    /// A successful call's JSON.
    pub async fn ok(&mut self, tool: &str, args: Value) -> Value {
        let (err, v) = self.call(tool, args.clone()).await;
        assert!(!err, "{tool}({args}) failed: {v}");
        v
    }

    /// A failed call's error code.
    pub async fn error_code(&mut self, tool: &str, args: Value) -> String {
        let (err, v) = self.call(tool, args.clone()).await;
        assert!(err, "{tool}({args}) should fail, got {v}");
        assert!(v["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "errors carry a hint: {v}");
        v["error"]["code"].as_str().unwrap().to_string()
    }

    /// The next `notifications/claude/channel` within `wait`.
    pub async fn notification(&mut self, wait: Duration) -> Option<Value> {
        self.notification_of("notifications/claude/channel", wait).await
    }

    /// The params of the next notification with `method` within `wait`.
    pub async fn notification_of(&mut self, method: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(pos) = self.notes.iter().position(|n| n["method"] == method) {
                return self.notes.remove(pos).map(|n| n["params"].clone());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_line(left).await?;
            if v.get("method").is_some() {
                self.notes.push_back(v);
            }
        }
    }

    /// Waits until the bridge reports a live connection.
    pub async fn wait_connected(&mut self) -> Value {
        for _ in 0..100 {
            let s = self.ok("status", json!({})).await;
            if s["state"] == "connected" {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the bridge never connected");
    }
}
