//! The hub: agent WebSocket (9559) and HTTP (8559) listeners over shared state.
//!
//! - `socket`: the listeners, the agent and observer sockets, a connection's writer, limits;
//! - `pipeline`: what happens to a frame: the router (store, deliver, answer), inboxes, reads;
//! - `state`: what every handler shares: the registry of agents, auth, names, profiles, metrics;
//! - `store`: persistence behind one trait per domain (SQLite), the only place with SQL;
//! - `http`: the dashboard and REST;
//! - `features`: todos, reactions, health records, Web Push, permission approvals.

pub mod features;
mod http;
pub mod pipeline;
pub mod socket;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::config::Config;
use crate::protocol::Limits;
use state::metrics::Metrics;
use state::registry::Registry;
use store::{Store, StoreError};

/// How often expired idempotency keys are deleted (in bounded steps between message batches).
const KEY_PURGE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot prepare the admin token file: {0}")]
    AdminToken(std::io::Error),
    #[error("push keys: {0}")]
    Push(#[from] features::push::vapid::VapidError),
    #[error("cannot create the media folder {path}: {source}")]
    Media { path: PathBuf, source: std::io::Error },
}

/// Everything handlers share. Its methods live with what they do:
///
/// - here: the payload [`limits`](HubState::limits), `announce_disconnect`, the reaper;
/// - `pipeline::router`: the message path (`submit`, then `after_commit`);
/// - `features::permissions`: `ask_permission`, `answer_permission`, `answer_from_chat`,
///   `expire_permissions`, and from replicas `permission_heard`, `adopt_pending_permissions`;
/// - `features::health`: `record_health`, `health_heard`; `features::reactions`: `toggle_reaction`;
/// - `state::fleet` (functions of the state): listings across replicas and their presence.
pub struct HubState {
    pub config: Config,
    pub admin_token: String,
    pub store: Store,
    pub registry: Registry,
    pub names: state::names::Names,
    pub metrics: Metrics,
    pub push: features::push::Push,
    pub permissions: features::permissions::Permissions,
    /// What the other hub processes on the database say, as this hub acts on it.
    pub peers: Arc<pipeline::peers::FromPeers>,
    /// Sockets by the workspace token they came with, for revocation.
    pub live_tokens: Arc<socket::live_tokens::LiveTokens>,
    /// Each channel's newest `seq` delivered here, for resuming clients.
    pub heads: pipeline::heads::Heads,
    pub started: Instant,
    shutdown: watch::Receiver<bool>,
}

impl HubState {
    /// The payload limits this hub's configuration sets (`protocol::Command::from_frame`).
    pub fn limits(&self) -> Limits {
        Limits {
            max_channels: self.config.max_channels_per_agent as usize,
            max_content_bytes: self.config.max_content_bytes,
            max_metadata_bytes: self.config.max_metadata_bytes as usize,
        }
    }

    /// Removes an agent and tells observers, as every removal path must; its permission
    /// requests start their grace period.
    pub fn announce_disconnect(&self, name: &str) {
        self.permissions.agent_left(name);
        self.registry.to_observers(&state::fleet::disconnected(name), &self.metrics);
    }

    fn reap(&self) -> Vec<String> {
        let removed = self.registry.reap(Duration::from_secs(self.config.stale_secs));
        for name in &removed {
            tracing::info!(agent = %name, "reaped stale agent");
            self.announce_disconnect(name);
        }
        removed
    }
}

/// A running hub. Dropping it does not stop it; call [`RunningHub::shutdown`].
pub struct RunningHub {
    pub ws_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub state: Arc<HubState>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.ws_addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops accepting and reading; each agent socket closes with 1012 once its messages in
    /// the group commit are committed and their acks sent (see `socket::agent`). Observers close at
    /// once. Waits for the listeners.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for o in self.state.registry.read().observers.values() {
            o.close(socket::conn::close_code::RESTART, RESTART_REASON);
        }
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// The close reason every socket gets when the hub stops.
const RESTART_REASON: &str = "hub restarting: reconnect now";

/// Connections the kernel may hold ready for `accept` (it caps this at `net.core.somaxconn`).
/// Tokio's default of 1024 overflows when a whole fleet comes back after a restart: the kernel
/// then drops handshakes, and each client waits out TCP's retransmission timer (1 s, 3 s, 7 s).
const LISTEN_BACKLOG: u32 = 65_535;

async fn bind(host: &str, port: u16) -> Result<TcpListener, HubError> {
    let addr = format!("{host}:{port}");
    let fail = |source| HubError::Bind { addr: addr.clone(), source };
    let mut last = std::io::Error::new(std::io::ErrorKind::InvalidInput, "the host resolves to no address");
    for a in tokio::net::lookup_host(&addr).await.map_err(fail)? {
        match listen(a) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

/// Binds `addr` (reusing a port whose old connections linger in TIME_WAIT, as a restart needs)
/// and listens with [`LISTEN_BACKLOG`].
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Opens the store, binds both ports (0 = ephemeral) and starts serving.
pub async fn start(config: Config) -> Result<RunningHub, HubError> {
    let store = Store::open(&config.db, &config.db_sync, config.retention_max_rows, config.inbox_max).await?;
    let admin_token = admin_token(&config, &store).await?;
    std::fs::create_dir_all(&config.media_root)
        .map_err(|source| HubError::Media { path: config.media_root.clone(), source })?;
    store.ensure_default_workspace().await?;
    let push = features::push::Push::start(Some(push_keys(&config, &store).await?), store.clone()).await?;

    let ws_listener = bind(&config.host, config.port).await?;
    let http_listener = bind(&config.host, config.dashboard_port).await?;
    let ws_addr = ws_listener.local_addr().map_err(|source| HubError::Bind { addr: "agent".into(), source })?;
    let http_addr = http_listener.local_addr().map_err(|source| HubError::Bind { addr: "http".into(), source })?;

    let registry = Registry::default();
    registry.write().health = store.health_records().await?;
    let names = state::names::Names::load(store.clone(), config.names_per_workspace).await?;
    let (stop, shutdown) = watch::channel(false);
    // Several hubs write a shared store; a SQLite file has one (see `pipeline::heads`).
    let alone = !store.shared();
    let state = Arc::new_cyclic(|me| HubState {
        peers: pipeline::peers::FromPeers::new(me.clone()),
        config,
        admin_token,
        store,
        registry,
        names,
        metrics: Metrics::default(),
        push,
        permissions: features::permissions::Permissions::default(),
        live_tokens: Arc::default(),
        heads: pipeline::heads::Heads::new(alone),
        started: Instant::now(),
        shutdown,
    });

    state.store.follow_peers(state.peers.clone());

    let mut tasks = Vec::new();
    let edge = socket::listener::Edge::new(&state.config);
    for (tcp, app) in [(ws_listener, socket::agent::router(state.clone())), (http_listener, http::router(state.clone()))] {
        tasks.push(tokio::spawn(socket::listener::serve(tcp, app, edge.clone(), state.shutdown.clone())));
    }
    tasks.push(tokio::spawn(state.clone().expire_permissions()));
    tasks.extend(crate::hub::state::fleet::start(&state));
    let heads = state.clone();
    tasks.push(tokio::spawn(async move { heads.heads.load(&heads.store).await }));
    tasks.extend(housekeeping(&state));
    tracing::info!(ws = %ws_addr, http = %http_addr, version = crate::VERSION, "hub listening");
    Ok(RunningHub { ws_addr, http_addr, state, stop, tasks })
}

/// The admin token: the configured one, else the one the hub generated before, else a new one
/// (kept in the database when the store keeps such values, so replicas share it; else in
/// `.admin-token` beside the SQLite file). Never logged.
async fn admin_token(config: &Config, store: &Store) -> Result<String, HubError> {
    let configured = if config.admin_token.is_empty() { &config.token } else { &config.admin_token };
    if configured.is_empty()
        && let Some(token) = store.kept_secret(ADMIN_TOKEN_SECRET, state::auth::random_secret()).await?
    {
        tracing::info!("admin token kept in the database (hub_secrets, name {ADMIN_TOKEN_SECRET})");
        return Ok(token);
    }
    let data_dir = config.db.data_dir().unwrap_or_default();
    state::auth::resolve_admin_token(configured, &data_dir).map_err(HubError::AdminToken)
}

/// Names of what a store that keeps secrets holds for the hub.
const ADMIN_TOKEN_SECRET: &str = "admin-token";
const VAPID_SECRET: &str = "vapid-keys";

/// A fresh install gets push keys without a manual step.
async fn push_keys(config: &Config, store: &Store) -> Result<features::push::VapidKeys, HubError> {
    if let Some(k) = features::push::VapidKeys::load(config)? {
        return Ok(k);
    }
    if let Some(json) = store.kept_secret(VAPID_SECRET, features::push::VapidKeys::new_key_json()).await? {
        return Ok(features::push::VapidKeys::from_key_json(&json, config)?);
    }
    let k = features::push::VapidKeys::generate(config)?;
    tracing::info!(file = %k.source, "generated Web Push (VAPID) keys");
    Ok(k)
}

/// The periodic tasks, until the hub stops: the reaper of silent agents, and the purge of
/// expired message keys and old waiting mentions.
fn housekeeping(state: &Arc<HubState>) -> [tokio::task::JoinHandle<()>; 2] {
    let reaper_state = state.clone();
    let mut stopped = state.shutdown.clone();
    let reaper = tokio::spawn(async move {
        let period = Duration::from_secs(reaper_state.config.reap_interval_secs.max(1));
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => { reaper_state.reap(); }
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
    });
    let purge_state = state.clone();
    let mut stopped = state.shutdown.clone();
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEY_PURGE_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.wait_for(|s| *s) => break,
            }
            match purge_state.store.purge_expired_keys().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "purged expired message keys"),
                Err(e) => tracing::warn!(error = %e, "purging expired message keys failed"),
            }
            match purge_state.store.expire_inbox(purge_state.config.inbox_days).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "expired waiting mentions"),
                Err(e) => tracing::warn!(error = %e, "expiring waiting mentions failed"),
            }
        }
    });
    [reaper, purge]
}
