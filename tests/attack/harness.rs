//! The real `scitex-orochi serve` in a child process: signals, timeouts, descriptor limits and
//! memory only show there (the test harness itself ignores SIGPIPE).

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

#[path = "../hub/common.rs"]
#[allow(dead_code)]
pub mod common;

pub use common::{ADMIN, Peer};

/// A hub child with ephemeral ports on 127.0.0.1 and its own data folder; killed on drop.
pub struct ChildHub {
    pub child: Child,
    pub ws_port: u16,
    pub http_port: u16,
    pub dir: tempfile::TempDir,
    /// The settings given to [`ChildHub::start_with`], kept for [`ChildHub::restart`].
    extra: Vec<(String, String)>,
}

/// Starts `serve` on `dir` and the ports; `None` when it exits or never becomes healthy.
async fn launch(dir: &std::path::Path, ws_port: u16, http_port: u16, extra: &[(String, String)]) -> Option<Child> {
    let mut cmd = Command::new(binary());
    cmd.arg("serve").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).kill_on_drop(true);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCITEX_OROCHI_")) {
        cmd.env_remove(k);
    }
    cmd.envs(base_env(dir, ws_port, http_port));
    cmd.envs(extra.iter().cloned());
    let mut child = cmd.spawn().expect("the hub binary starts");
    let base = format!("http://127.0.0.1:{http_port}");
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status().is_success()) {
            return Some(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill().await;
    None
}

/// Settings every child gets; tests add their own with [`ChildHub::start_with`].
fn base_env(dir: &std::path::Path, ws: u16, http: u16) -> Vec<(String, String)> {
    let d = |p: &str| dir.join(p).to_string_lossy().into_owned();
    [
        ("SCITEX_OROCHI_HOST", "127.0.0.1".to_string()),
        ("SCITEX_OROCHI_PORT", ws.to_string()),
        ("SCITEX_OROCHI_DASHBOARD_PORT", http.to_string()),
        ("SCITEX_OROCHI_DB", d("orochi.db")),
        ("SCITEX_OROCHI_MEDIA_ROOT", d("media")),
        ("SCITEX_OROCHI_ADMIN_TOKEN", ADMIN.to_string()),
        ("SCITEX_OROCHI_DB_SYNC", "normal".to_string()),
        ("SCITEX_OROCHI_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

impl ChildHub {
    pub async fn start() -> ChildHub {
        Self::start_with(&[]).await
    }

    /// Starts a child with extra `SCITEX_OROCHI_*` settings; retries when a port was taken
    /// between choosing it and binding it.
    pub async fn start_with(extra: &[(&str, &str)]) -> ChildHub {
        let dir = tempfile::tempdir().unwrap();
        let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for _ in 0..5 {
            let (ws_port, http_port) = (common::free_port(), common::free_port());
            if let Some(child) = launch(dir.path(), ws_port, http_port, &extra).await {
                return ChildHub { child, ws_port, http_port, dir, extra };
            }
        }
        panic!("the hub child never became healthy");
    }

    /// Kills the child (SIGKILL) and starts it again on the same data folder, ports and settings.
    pub async fn restart(&mut self) {
        self.child.kill().await.unwrap();
        self.relaunch().await;
    }

    /// Stops the child as a deploy does (SIGTERM) and waits for it to exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) }, 0, "SIGTERM sent");
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the hub exits within 20 s of SIGTERM")
            .unwrap()
    }

    /// Starts the stopped child again on the same data folder, ports and settings.
    pub async fn relaunch(&mut self) {
        for _ in 0..5 {
            if let Some(child) = launch(self.dir.path(), self.ws_port, self.http_port, &self.extra).await {
                self.child = child;
                return;
            }
        }
        panic!("the restarted hub child never became healthy");
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("child running")
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.ws_port)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// An unregistered agent socket with `token`.
    pub async fn raw(&self, token: &str) -> Peer {
        Peer::connect(&format!("{}?token={token}", self.ws_url())).await
    }

    /// A registered agent socket with `token`, its register ack consumed.
    pub async fn agent_with(&self, token: &str, name: &str, channels: &[&str]) -> Peer {
        let mut p = self.raw(token).await;
        p.register(name, channels).await;
        p
    }

    /// Panics with the exit status if the child died.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the hub died: {status}");
        }
    }

    /// The hub is alive and serves a fresh client end to end: healthz, register, send, ack.
    pub async fn assert_serving(&mut self) {
        self.assert_alive();
        let r = reqwest::get(self.http("/healthz")).await.expect("healthz answers");
        assert!(r.status().is_success());
        let name = format!("bystander-{}", std::process::id());
        let mut p = self.agent_with(ADMIN, &name, &["#bystand"]).await;
        let ack = p.say(&name, "#bystand", "still here").await;
        assert_eq!(ack["type"], "ack", "{ack}");
        self.assert_alive();
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

}

/// The binary under test, built by cargo for this test target.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_scitex-orochi")
}

/// A workspace made through the admin API with the token it comes with: `(workspace_id, token)`.
pub async fn workspace(hub: &ChildHub, name: &str) -> (String, String) {
    let ws = common::create_workspace(&hub.http(""), name).await;
    let field = |k: &str| ws[k].as_str().unwrap_or_else(|| panic!("workspace created: {ws}")).to_string();
    (field("id"), field("token"))
}
