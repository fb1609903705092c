//! The health gate (HTTP `/healthz`, then a real WebSocket register answered by an ack) and
//! the prober that measures the cut-over gap on the published HTTP port.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::client::{ClientOptions, OrochiClient};

/// Where the gate finds the admin token.
#[derive(Debug, Clone)]
pub enum TokenSource {
    Value(String),
    /// The hub writes `.admin-token` into its data folder on first start.
    File(PathBuf),
}

impl TokenSource {
    fn read(&self) -> Result<String, String> {
        match self {
            TokenSource::Value(v) => Ok(v.clone()),
            TokenSource::File(p) => std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read the admin token {}: {e}", p.display())),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GateTarget {
    /// `http://127.0.0.1:8559`
    pub http_base: String,
    /// `ws://127.0.0.1:9559/`
    pub ws_url: String,
    pub token: TokenSource,
    /// Agent name the gate registers as.
    pub agent: String,
}

/// When each check first passed, measured from the gate's start.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct GatePassed {
    pub healthz_ms: u64,
    pub websocket_ms: u64,
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).pool_max_idle_per_host(0).build().expect("an HTTP client without TLS roots builds")
}

/// `GET /healthz` answers 2xx.
pub async fn healthz(client: &reqwest::Client, http_base: &str) -> Result<(), String> {
    match client.get(format!("{http_base}/healthz")).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("/healthz answered {}", r.status())),
        Err(e) => Err(format!("/healthz: {}", if e.is_connect() { "connection refused".into() } else { e.to_string() })),
    }
}

async fn register(target: &GateTarget) -> Result<(), String> {
    let token = target.token.read()?;
    let mut options = ClientOptions::new(target.ws_url.clone(), token, target.agent.clone());
    options.register = true;
    options.reconnect = false;
    options.heartbeat = None;
    options.channels = Vec::new();
    options.role = "deploy-gate".into();
    let client = tokio::time::timeout(Duration::from_secs(3), OrochiClient::connect(options))
        .await
        .map_err(|_| "WebSocket register: no ack within 3 s".to_string())?
        .map_err(|e| format!("WebSocket register: {e}"))?;
    client.close().await;
    Ok(())
}

/// Waits until both checks pass or `deadline` passes. `alive` is asked between attempts and
/// ends the wait early with its reason (e.g. the container exited).
pub async fn gate<F, Fut>(target: &GateTarget, deadline: Duration, mut alive: F) -> Result<GatePassed, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    // Short: while a container starts, Docker's port proxy accepts connections it cannot
    // forward yet and they hang; a fresh attempt succeeds as soon as the hub listens.
    let client = http_client(Duration::from_millis(250));
    let mut passed = GatePassed::default();
    let mut http_ok = false;
    let mut last = String::from("no check ran");
    loop {
        alive().await?;
        if !http_ok {
            match healthz(&client, &target.http_base).await {
                Ok(()) => {
                    http_ok = true;
                    passed.healthz_ms = start.elapsed().as_millis() as u64;
                }
                Err(e) => last = e,
            }
        }
        if http_ok {
            match register(target).await {
                Ok(()) => {
                    passed.websocket_ms = start.elapsed().as_millis() as u64;
                    return Ok(passed);
                }
                Err(e) => last = e,
            }
        }
        if start.elapsed() >= deadline {
            return Err(format!("{last} (deadline {:.1} s)", deadline.as_secs_f64()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/healthz` of one or more bases (the replicas of an instance) every few
/// milliseconds in the background; a round is an answer when any base answers. The gap is
/// the longest time between the last answer before an outage and the first answer after it.
pub struct Prober {
    stop: watch::Sender<bool>,
    answered: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Option<Duration>>,
}

impl Prober {
    pub fn start(http_bases: Vec<String>) -> Prober {
        let (stop, mut stopped) = watch::channel(false);
        let (answered_tx, answered) = watch::channel(false);
        let task = tokio::spawn(async move {
            let client = http_client(Duration::from_millis(150));
            let mut last_ok: Option<Instant> = None;
            let mut outage_from: Option<Instant> = None;
            let mut gap: Option<Duration> = None;
            loop {
                let answers = futures_util::future::join_all(http_bases.iter().map(|b| healthz(&client, b))).await;
                let ok = answers.iter().any(Result::is_ok);
                let now = Instant::now();
                match (ok, outage_from) {
                    (true, Some(from)) => {
                        gap = gap.max(Some(now - from));
                        outage_from = None;
                    }
                    (false, None) => outage_from = last_ok,
                    _ => {}
                }
                if ok {
                    last_ok = Some(now);
                    answered_tx.send_if_modified(|a| !std::mem::replace(a, true));
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
            gap
        });
        Prober { stop, answered, task }
    }

    /// Waits (up to `limit`) until the current instance answered once, so the gap is measured
    /// from a real last answer.
    pub async fn ready(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.answered.wait_for(|a| *a)).await.is_ok_and(|r| r.is_ok())
    }

    /// Stops probing; `None` when no outage was seen after a first answer.
    pub async fn finish(self) -> Option<Duration> {
        let _ = self.stop.send(true);
        self.task.await.ok().flatten()
    }
}
