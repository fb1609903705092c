//! The one table of `SCITEX_OROCHI_*` variables.
//!
//! Every variable the binary reads is declared once in [`settings!`] below: its name, kind,
//! default, whether it is a secret, and a one-line doc. The typed [`Config`] struct, the
//! documentation check in the tests and the error messages all come from that table. How one
//! row is checked and read is in `var`.

use std::path::PathBuf;

mod db;
mod var;

pub use db::{DbLocation, DbLocationError, PostgresUrl};
pub use var::{ConfigError, Kind, Var};

/// The prefix every variable name of the table starts with.
pub const PREFIX: &str = "SCITEX_OROCHI_";

macro_rules! settings {
    ($( $field:ident : $ty:ty = $name:literal, $kind:expr, $default:literal, secret = $secret:literal, $doc:literal; )*) => {
        /// The name of every variable as a constant, named after it without the prefix:
        /// `names::PORT` is `"SCITEX_OROCHI_PORT"`. Code that names a variable (env files,
        /// container environments, messages) uses these instead of retyping the text.
        pub mod names {
            $( pastey::paste! {
                #[doc = concat!("`SCITEX_OROCHI_", $name, "`: ", $doc)]
                pub const [<$name>]: &str = concat!("SCITEX_OROCHI_", $name);
            } )*
        }

        /// Every `SCITEX_OROCHI_*` variable, in documentation order.
        pub const VARS: &[Var] = &[
            $( Var { name: concat!("SCITEX_OROCHI_", $name), kind: $kind, default: $default, secret: $secret, doc: $doc }, )*
        ];

        /// Typed settings, one field per row of [`VARS`].
        #[derive(Clone)]
        pub struct Config {
            $( #[doc = $doc] pub $field: $ty, )*
            /// Names the lookup supplied; the other fields hold their table default. Lets a
            /// caller tell "set to the default" from "not set" ([`Config::is_set`]).
            supplied: Vec<&'static str>,
        }

        impl Config {
            /// Reads every variable through `lookup`; all problems are reported together.
            pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
                let mut errors = Vec::new();
                let supplied = VARS.iter().map(|v| v.name).filter(|name| lookup(name).is_some()).collect();
                $( let $field = Var { name: concat!("SCITEX_OROCHI_", $name), kind: $kind, default: $default, secret: $secret, doc: $doc }
                    .read::<$ty>(&lookup, &mut errors); )*
                if !errors.is_empty() {
                    return Err(ConfigError(errors));
                }
                Ok(Config { $( $field: $field.expect("checked above"), )* supplied })
            }
        }
    };
}

settings! {
    host: String = "HOST", Kind::Host, "127.0.0.1", secret = false,
        "Bind address of both listeners; also the host the client connects to.";
    port: u16 = "PORT", Kind::Port, "9559", secret = false,
        "Agent WebSocket port.";
    dashboard_port: u16 = "DASHBOARD_PORT", Kind::Port, "8559", secret = false,
        "HTTP port: dashboard, REST API, observer socket /ws, media.";
    url: String = "URL", Kind::Url, "", secret = false,
        "Client only: hub base URL such as wss://orochi.example.org (agent socket at /ws/agent/, REST on the same origin); a URL naming PORT is the agent listener itself, REST then on DASHBOARD_PORT. Overrides HOST and PORT when set.";
    token: String = "TOKEN", Kind::Text, "", secret = true,
        "Client token; on the hub, the admin token when ADMIN_TOKEN is unset.";
    admin_token: String = "ADMIN_TOKEN", Kind::Text, "", secret = true,
        "Hub admin token. Unset: TOKEN, else <data dir>/.admin-token, else generated into that file (0600).";
    agent: String = "AGENT", Kind::Text, "", secret = false,
        "Client only: agent name (default: the host name).";
    db: DbLocation = "DB", Kind::Database, "orochi-data/orochi.db", secret = false,
        "Where the hub keeps its data: a SQLite file (its folder also holds .admin-token and vapid-keys.json), or postgres://user:password@host/db for PostgreSQL (the generated admin token and push keys then live in the database; the password is never shown).";
    db_sync: String = "DB_SYNC", Kind::Choice(&["full", "normal"]), "full", secret = false,
        "SQLite synchronous mode for the WAL: full survives power loss, normal survives process crashes.";
    retention_max_rows: u64 = "RETENTION_MAX_ROWS", Kind::Count, "0", secret = false,
        "Keep at most this many messages (oldest pruned first); 0 keeps everything.";
    dashboard_ws_upstream: String = "DASHBOARD_WS_UPSTREAM", Kind::Url, "", secret = false,
        "Dashboard URL of the hub this dashboard observes and posts to (dev: stable's public_url, set by the deploy controller); served as /api/config ws_upstream.";
    cors_origins: Vec<String> = "CORS_ORIGINS", Kind::Origins, "", secret = false,
        "Comma-separated exact origins allowed to call the REST API from a browser.";
    media_root: PathBuf = "MEDIA_ROOT", Kind::Path, "orochi-data/media", secret = false,
        "Folder for uploaded files.";
    media_max_size: u64 = "MEDIA_MAX_SIZE", Kind::Bytes, "20971520", secret = false,
        "Largest upload in bytes, enforced while streaming.";
    max_frame_bytes: u64 = "MAX_FRAME_BYTES", Kind::Bytes, "1048576", secret = false,
        "Largest WebSocket frame answered normally; larger ones get FRAME_TOO_LARGE, four times larger close the socket (1009).";
    max_content_bytes: u64 = "MAX_CONTENT_BYTES", Kind::Bytes, "262144", secret = false,
        "Largest message content in bytes (WebSocket and REST).";
    queue_frames: u64 = "QUEUE_FRAMES", Kind::Count, "4096", secret = false,
        "Outbound queue per connection, in frames; a consumer that falls this far behind is disconnected (4008).";
    queue_bytes: u64 = "QUEUE_BYTES", Kind::Bytes, "4194304", secret = false,
        "Byte budget per connection: a consumer with more than this queued is disconnected (4008); an agent with more than this awaiting commit is not read until it fits.";
    max_metadata_bytes: u64 = "MAX_METADATA_BYTES", Kind::Bytes, "65536", secret = false,
        "Largest message metadata (and attachments list), as JSON text, in bytes.";
    max_channels_per_agent: u64 = "MAX_CHANNELS_PER_AGENT", Kind::Count, "1000", secret = false,
        "Most channels one agent may be in over its socket (register and subscribe).";
    rate_messages_per_sec: u64 = "RATE_MESSAGES_PER_SEC", Kind::Count, "100", secret = false,
        "Messages per second one agent socket with a workspace token may send, sustained (admin token exempt); 0 is unlimited.";
    rate_burst: u64 = "RATE_BURST", Kind::Count, "500", secret = false,
        "Messages such a socket may send at once before RATE_MESSAGES_PER_SEC applies.";
    ping_interval_secs: u64 = "PING_INTERVAL_SECS", Kind::Seconds, "30", secret = false,
        "Protocol ping interval on agent sockets.";
    ping_timeout_secs: u64 = "PING_TIMEOUT_SECS", Kind::Seconds, "10", secret = false,
        "A socket silent this long after a ping is closed.";
    stale_secs: u64 = "STALE_SECS", Kind::Seconds, "300", secret = false,
        "An agent without heartbeat for this long is reaped and its socket closed (4003).";
    inbox_max: u64 = "INBOX_MAX", Kind::Count, "1000", secret = false,
        "Most undelivered @mentions kept per agent; beyond it the oldest go and the agent is told how many at its next register.";
    inbox_days: u64 = "INBOX_DAYS", Kind::Count, "7", secret = false,
        "Days an undelivered @mention waits for its agent; older ones are dropped unsent.";
    names_per_workspace: u64 = "NAMES_PER_WORKSPACE", Kind::Count, "1000", secret = false,
        "Most agent names one workspace token may claim (the admin token is exempt); the admin releases names with DELETE /api/names/{name}.";
    reap_interval_secs: u64 = "REAP_INTERVAL_SECS", Kind::Seconds, "60", secret = false,
        "How often the reaper runs.";
    header_timeout_secs: u64 = "HEADER_TIMEOUT_SECS", Kind::Seconds, "10", secret = false,
        "Both listeners close a connection that has not sent a whole request head within this long (slow or idle clients).";
    max_connections: u64 = "MAX_CONNECTIONS", Kind::Count, "60000", secret = false,
        "Open connections on both listeners together; over it a new connection gets a bare 503 and is closed.";
    max_connections_per_addr: u64 = "MAX_CONNECTIONS_PER_ADDR", Kind::Count, "20000", secret = false,
        "Open connections per client address; over it a new connection gets 503, or close 1013 for a WebSocket behind a trusted proxy.";
    trusted_proxies: Vec<ipnet::IpNet> = "TRUSTED_PROXIES", Kind::Networks, "", secret = false,
        "Comma-separated IPs or CIDRs of proxies whose CF-Connecting-IP / X-Forwarded-For name the client address; empty trusts none.";
    register_timeout_secs: u64 = "REGISTER_TIMEOUT_SECS", Kind::Seconds, "30", secret = false,
        "An agent socket that sends no frame within this long after connecting is closed (4010).";
    vapid_public: String = "VAPID_PUBLIC", Kind::Text, "", secret = false,
        "Web Push public key (base64url); with VAPID_PRIVATE. Unset: <data dir>/vapid-keys.json, created on first start.";
    vapid_private: String = "VAPID_PRIVATE", Kind::Text, "", secret = true,
        "Web Push private key (base64url), set together with VAPID_PUBLIC.";
    vapid_subject: String = "VAPID_SUBJECT", Kind::Text, "mailto:orochi@localhost", secret = false,
        "Contact the push services see in VAPID claims (mailto: or https: URL).";
    log: String = "LOG", Kind::Text, "info", secret = false,
        "Log filter (tracing EnvFilter syntax), written to stderr.";
    channels: Vec<String> = "CHANNELS", Kind::Text, "#general", secret = false,
        "Client only: channels the agent joins at register, comma-separated; the MCP bridge pushes their messages.";
    multiplexer: String = "MULTIPLEXER", Kind::Choice(&["tmux", "screen"]), "tmux", secret = false,
        "MCP bridge: terminal multiplexer the context tool reads (tmux capture-pane or screen hardcopy).";
    mcp_dirs: Vec<String> = "MCP_DIRS", Kind::Text, "", secret = false,
        "MCP bridge: comma-separated folders whose files reply and upload_media may send; empty means the working directory.";
    mcp_download_dir: PathBuf = "MCP_DOWNLOAD_DIR", Kind::Path, "/tmp/orochi-media", secret = false,
        "MCP bridge: folder download_media writes to (created 0700); output paths must lie inside it.";
    cloudflare_api_token: String = "CLOUDFLARE_API_TOKEN", Kind::Text, "", secret = true,
        "Deploy controller: Cloudflare API token allowed to purge the zone's cache; from the environment or the instance env file, never passed to containers.";
    cloudflare_zone_id: String = "CLOUDFLARE_ZONE_ID", Kind::Text, "", secret = false,
        "Deploy controller: Cloudflare zone of the public URLs; purging is skipped when it or the token is unset.";
    cloudflare_api_base: String = "CLOUDFLARE_API_BASE", Kind::Url, "https://api.cloudflare.com/client/v4/", secret = false,
        "Deploy controller: Cloudflare API base URL (tests point it at a fake on 127.0.0.1).";
    mcp_permission_relay: String = "MCP_PERMISSION_RELAY", Kind::Choice(&["on", "off"]), "on", secret = false,
        "MCP bridge: declare claude/channel/permission and relay Claude Code's tool-permission prompts to the hub (off: prompts stay in the terminal only).";
    permission_expiry_secs: u64 = "PERMISSION_EXPIRY_SECS", Kind::Seconds, "600", secret = false,
        "A relayed permission request not answered within this long expires and can no longer be answered.";
    permission_grace_secs: u64 = "PERMISSION_GRACE_SECS", Kind::Seconds, "30", secret = false,
        "When an agent's socket goes away, its pending permission requests expire unless it registers again within this long.";
    permission_retention_days: u64 = "PERMISSION_RETENTION_DAYS", Kind::Count, "30", secret = false,
        "Answered and expired permission requests (and their audit) are deleted after this many days.";
    approvals_channel: String = "APPROVALS_CHANNEL", Kind::Text, "#approvals", secret = false,
        "Channel where the hub announces permission requests (without their preview) and approver tokens answer yes <id> / no <id>; empty: no announcements.";
    replica_heartbeat_ms: u64 = "REPLICA_HEARTBEAT_MS", Kind::Count, "1000", secret = false,
        "PostgreSQL replicas: milliseconds between a hub's heartbeats, each writing its agents changed since for the other replicas' listings and telling their observers.";
    replica_timeout_ms: u64 = "REPLICA_TIMEOUT_MS", Kind::Count, "3000", secret = false,
        "PostgreSQL replicas: a replica without heartbeat for this many milliseconds is dead; its agents leave every listing and are announced disconnected.";
}

/// `url` with the value of any `token=` query parameter replaced by `***`, for errors and logs.
pub fn redact_token(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else { return url.to_string() };
    if !u.query_pairs().any(|(k, _)| k == "token") {
        return url.to_string();
    }
    let pairs: Vec<(String, String)> =
        u.query_pairs().map(|(k, v)| (k.to_string(), if k == "token" { "***".to_string() } else { v.to_string() })).collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Table defaults, for tests and embedding.
    pub fn defaults() -> Self {
        Self::from_lookup(|_| None).expect("table defaults are valid")
    }

    /// Whether the variable `name` (a [`names`] constant) was set where this configuration was
    /// read from, even to its default value.
    pub fn is_set(&self, name: &str) -> bool {
        self.supplied.contains(&name)
    }

    /// The token a client presents: TOKEN, else ADMIN_TOKEN.
    pub fn client_token(&self) -> &str {
        if self.token.is_empty() { &self.admin_token } else { &self.token }
    }

    /// The agent WebSocket URL a client connects to. URL is a base such as
    /// `wss://orochi.example.org`, to which `/ws/agent/` is appended unless it is already there
    /// (the TypeScript bridge's convention); a URL naming the agent port (PORT) is used as it is.
    /// `http(s)://` is taken as `ws(s)://`. Unset: the agent port on HOST.
    pub fn hub_url(&self) -> String {
        let Some(mut u) = self.client_url() else { return format!("ws://{}:{}/", self.host, self.port) };
        if !self.names_agent_port(&u) && !u.path().contains("/ws/agent") {
            let path = format!("{}/ws/agent/", u.path().trim_end_matches('/'));
            u.set_path(&path);
        }
        u.to_string()
    }

    /// The REST base URL a client uses: the origin of URL (`wss` gives `https`); when URL names
    /// the agent port (the separate agent listener), the dashboard port on that host.
    pub fn http_base(&self) -> String {
        let Some(u) = self.client_url() else { return format!("http://{}:{}", self.host, self.dashboard_port) };
        let scheme = if u.scheme() == "wss" { "https" } else { "http" };
        let host = u.host_str().unwrap_or(&self.host);
        match u.port() {
            _ if self.names_agent_port(&u) => format!("{scheme}://{host}:{}", self.dashboard_port),
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        }
    }

    /// URL parsed, with `http(s)` mapped to `ws(s)`; `None` when unset.
    fn client_url(&self) -> Option<url::Url> {
        let mut u = url::Url::parse(&self.url).ok().filter(|u| u.host_str().is_some())?;
        let ws = match u.scheme() {
            "https" | "wss" => "wss",
            _ => "ws",
        };
        // Only fails between special and non-special schemes; these are all special.
        let _ = u.set_scheme(ws);
        Some(u)
    }

    fn names_agent_port(&self, u: &url::Url) -> bool {
        u.port() == Some(self.port)
    }

    /// The agent name a client uses: AGENT, else the host name.
    /// SCITEX_OROCHI_AGENT, else the short host name (names may not contain dots).
    pub fn agent_name(&self) -> String {
        if !self.agent.is_empty() {
            return self.agent.clone();
        }
        let host = crate::machine::hostname();
        host.split('.').next().unwrap_or_default().to_string()
    }
}

#[cfg(test)]
mod tests;
