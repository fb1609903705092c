//! The hub under test: our Rust hub in a child process (this same binary in `--serve-hub`
//! mode, so its RSS and file descriptors are its own) on SQLite or on PostgreSQL (a fresh
//! database of a server this generator starts), the Python reference hub, or an external one. Also reads a hub's RSS and CPU time from /proc.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scitex_orochi::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::Res;
use crate::pg_server::PgServer;
use crate::traffic::Target;

const MANAGED_TOKEN: &str = "bench-admin-token";
const PYTHON_PACKAGE: &str = "scitex-orochi==0.13.0";

#[derive(Clone)]
pub enum HubKind {
    Rust,
    /// Ours with `SCITEX_OROCHI_DB=postgres://…`, each run on a new database of this server.
    RustPostgres(Arc<PgServer>),
    /// Two of ours on one new database of this server: senders on the first, listeners on the
    /// second (the cross-replica timeline).
    RustReplicas(Arc<PgServer>),
    Python,
    External { target: Target, pid: Option<u32> },
}

pub struct Hub {
    pub label: &'static str,
    pub target: Target,
    pub pid: Option<u32>,
    /// REST base URL, for the hubs this generator starts.
    pub http: Option<String>,
    /// Our hub's PostgreSQL URL (SQLite in the data folder when `None`).
    db: Option<String>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    /// A second hub on the same database, where listeners connect.
    pub replica: Option<Box<Hub>>,
}

/// Data folders live under target/ so both hubs fsync to the repository's file system.
fn data_dir() -> Res<tempfile::TempDir> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&root)?;
    Ok(tempfile::Builder::new().prefix("bench-hub-").tempdir_in(root)?)
}

impl Hub {
    pub async fn launch(kind: &HubKind) -> Res<Hub> {
        match kind {
            HubKind::Rust => launch_rust(None).await,
            HubKind::RustPostgres(server) => launch_rust(Some(server.fresh_db().await)).await,
            HubKind::RustReplicas(server) => {
                let url = server.fresh_db().await;
                let mut first = launch_rust(Some(url.clone())).await?;
                first.label = "rust-pg2";
                first.replica = Some(Box::new(launch_rust(Some(url)).await?));
                Ok(first)
            }
            HubKind::Python => launch_python().await,
            HubKind::External { target, pid } => {
                Ok(Hub { label: "external", target: target.clone(), pid: *pid, http: None, db: None, child: None, _dir: None, replica: None })
            }
        }
    }

    /// Rust: closing its stdin shuts it down. Python: SIGTERM, then SIGKILL after 3 s,
    /// because it keeps running after SIGTERM.
    pub async fn stop(mut self) {
        if let Some(replica) = self.replica.take() {
            Box::pin(replica.stop()).await;
        }
        let Some(mut child) = self.child.take() else { return };
        let grace = if self.label == "python" {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
            }
            Duration::from_secs(3)
        } else {
            drop(child.stdin.take());
            Duration::from_secs(10)
        };
        if tokio::time::timeout(grace, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }

    /// The hub processes: this one and its replica.
    pub fn pids(&self) -> Vec<u32> {
        self.pid.into_iter().chain(self.replica.as_ref().and_then(|r| r.pid)).collect()
    }

    /// Stops our hub as a deploy does (SIGTERM: every socket closes with 1012 after its last
    /// acks) and starts it again on the same data folder and ports. Returns when the new hub
    /// accepts connections, and that moment.
    pub async fn restart(&mut self) -> Res<Instant> {
        let (Some(child), Some(dir), Some(http)) = (&mut self.child, &self._dir, &self.http) else {
            return Err("only a hub this generator started can be restarted".into());
        };
        let pid = child.id().ok_or("the hub child already exited")?;
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        if unsafe { libc::kill(pid as i32, libc::SIGTERM) } != 0 {
            return Err(format!("SIGTERM to the hub: {}", std::io::Error::last_os_error()).into());
        }
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await??;
        if !status.success() {
            return Err(format!("the hub did not stop cleanly on SIGTERM: {status}").into());
        }
        let (new, url, http) = spawn_rust(dir.path(), self.db.as_deref(), port_of(&self.target.url)?, port_of(http)?).await?;
        let accepting = Instant::now();
        self.pid = new.id();
        (self.child, self.target.url, self.http) = (Some(new), url, Some(http));
        Ok(accepting)
    }
}

async fn launch_rust(db: Option<String>) -> Res<Hub> {
    let dir = data_dir()?;
    let (child, url, http) = spawn_rust(dir.path(), db.as_deref(), 0, 0).await?;
    let target = Target { url, token: MANAGED_TOKEN.into() };
    let label = if db.is_some() { "rust-pg" } else { "rust" };
    Ok(Hub { label, target, pid: child.id(), http: Some(http), db, child: Some(child), _dir: Some(dir), replica: None })
}

/// Starts our hub child on `dir` (and the PostgreSQL database `db`) and the ports (0 =
/// ephemeral); returns once it accepts connections, with its agent and REST URLs.
async fn spawn_rust(dir: &Path, db: Option<&str>, ws_port: u16, http_port: u16) -> Res<(Child, String, String)> {
    let mut cmd = Command::new(std::env::current_exe()?);
    if let Some(url) = db {
        cmd.args(["--serve-db", url]);
    }
    let mut child = cmd
        .arg("--serve-hub")
        .arg(dir)
        .args(["--serve-ports", &format!("{ws_port},{http_port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line)).await??;
    let Some((url, http)) = line.trim().split_once(' ').filter(|(url, _)| url.starts_with("ws://")) else {
        return Err(format!("the hub child did not start: {line:?}").into());
    };
    Ok((child, url.into(), http.into()))
}

fn port_of(url: &str) -> Res<u16> {
    url::Url::parse(url)?.port().ok_or_else(|| format!("no port in {url}").into())
}

/// Child side of `--serve-hub DIR` (`--serve-db URL`: on that PostgreSQL database): start the hub on `ports` (agent, REST; 0 = ephemeral), print
/// its agent and REST URLs, serve until stdin closes or SIGTERM, then stop as `serve` does.
pub fn serve_rust_hub(dir: &Path, db: Option<&str>, ports: (u16, u16)) -> Res<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let served = rt.block_on(async {
        let mut c = Config::defaults();
        (c.port, c.dashboard_port) = ports;
        c.db = match db {
            Some(url) => scitex_orochi::config::DbLocation::parse(url)?,
            None => scitex_orochi::config::DbLocation::File(dir.join("orochi.db")),
        };
        c.media_root = dir.join("media");
        c.admin_token = MANAGED_TOKEN.into();
        c.db_sync = "full".into();
        let hub = scitex_orochi::hub::start(c).await?;
        println!("{} {}", hub.ws_url(), hub.http_url());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stdin_closed =
            tokio::task::spawn_blocking(|| std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new()));
        tokio::select! { _ = stdin_closed => {}, _ = term.recv() => {} }
        hub.shutdown().await;
        Ok::<(), crate::Error>(())
    });
    // The stdin reader may still block after SIGTERM: do not wait for it.
    rt.shutdown_background();
    served
}

/// The reference hub's console script, installing it into .venv-ref when missing.
async fn python_server() -> Res<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-ref");
    let server = venv.join("bin/scitex-orochi-server");
    if server.exists() {
        return Ok(server);
    }
    eprintln!("installing {PYTHON_PACKAGE} into {}", venv.display());
    if !venv.join("bin/pip").exists() {
        run_ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)).await?;
    }
    run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", PYTHON_PACKAGE])).await?;
    Ok(server)
}

async fn run_ok(cmd: &mut Command) -> Res<()> {
    let status = cmd.status().await?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}").into()) }
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn launch_python() -> Res<Hub> {
    let server = python_server().await?;
    let dir = data_dir()?;
    let (ws, http) = (free_port()?, free_port()?);
    let log = std::fs::File::create(dir.path().join("hub.log"))?;
    let mut cmd = Command::new(server);
    // Only the settings below: an inherited SCITEX_OROCHI_* would change what we measure.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCITEX_OROCHI_")) {
        cmd.env_remove(key);
    }
    let child = cmd
        .env("SCITEX_OROCHI_HOST", "127.0.0.1")
        .env("SCITEX_OROCHI_PORT", ws.to_string())
        .env("SCITEX_OROCHI_DASHBOARD_PORT", http.to_string())
        .env("SCITEX_OROCHI_DB", dir.path().join("orochi.db"))
        .env("SCITEX_OROCHI_MEDIA_ROOT", dir.path().join("media"))
        .env("SCITEX_OROCHI_TOKEN", MANAGED_TOKEN)
        .env("SCITEX_OROCHI_ADMIN_TOKEN", MANAGED_TOKEN)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let target = Target { url: format!("ws://127.0.0.1:{ws}/"), token: MANAGED_TOKEN.into() };
    let mut hub = Hub { label: "python", target, pid: child.id(), http: None, db: None, child: Some(child), _dir: Some(dir), replica: None };
    if let Err(e) = wait_ready(&format!("http://127.0.0.1:{http}/api/config"), hub.child.as_mut().unwrap()).await {
        hub.stop().await;
        return Err(e);
    }
    Ok(hub)
}

async fn wait_ready(url: &str, child: &mut Child) -> Res<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(1)).build()?;
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if let Some(status) = child.try_wait()? {
            return Err(format!("the Python hub exited early: {status}").into());
        }
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err("the Python hub did not answer /api/config within 60 s".into())
}

/// A token of a new workspace on the hub at `http`: agents with it are not admin, so the
/// message rate limit applies to them.
pub async fn workspace_token(http: &str, admin: &str) -> Res<String> {
    let ws: serde_json::Value = reqwest::Client::new()
        .post(format!("{http}/api/workspaces"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"name": "bench-flood"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(ws["token"].as_str().ok_or("the workspace came without a token")?.to_string())
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time in seconds (clock ticks are 1/100 s on Linux).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The soft open-file limit, to warn before a scenario runs out of descriptors.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
