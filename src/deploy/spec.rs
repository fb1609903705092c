//! Desired state: `deploy/instances.toml` (format documented in docs/deploy.md) and the
//! container environment computed from it and the instance's env file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{DbLocation, names};

/// Ports the hub listens on inside every container; the spec chooses the host ports.
pub const CONTAINER_HTTP_PORT: u16 = 8559;
pub const CONTAINER_WS_PORT: u16 = 9559;
/// Where the instance's data folder is mounted.
pub const DATA_MOUNT: &str = "/data";
/// Where the spec is looked for, from the working directory upwards.
pub const DEFAULT_SPEC: &str = "deploy/instances.toml";

/// Variables only the controller reads; they never reach a container.
pub const CONTROLLER_ONLY: &[&str] = &[names::CLOUDFLARE_API_TOKEN, names::CLOUDFLARE_ZONE_ID, names::CLOUDFLARE_API_BASE];

/// Variables the controller sets in every container (an env file cannot change them, except
/// that a `postgres://` `SCITEX_OROCHI_DB` replaces the SQLite file: the replicas' shared store).
pub const MANAGED: &[&str] = &[names::HOST, names::PORT, names::DASHBOARD_PORT, names::DB, names::MEDIA_ROOT];
/// Set to the upstream instance's `public_url` (dev observes stable).
pub const WS_UPSTREAM: &str = names::DASHBOARD_WS_UPSTREAM;
/// Extended with the downstream instances' `public_url`s.
pub const CORS_ORIGINS: &str = names::CORS_ORIGINS;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no {DEFAULT_SPEC} in {0} or any parent folder; pass --spec PATH")]
    NotFound(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: instance {instance}: {message}")]
    Invalid { path: PathBuf, instance: String, message: String },
    #[error("unknown instance {name:?}; {path} declares: {known}")]
    UnknownInstance { name: String, path: PathBuf, known: String },
}

/// Settings shared by all instances (`[defaults]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// Image repository; tags are `<version>-<content hash>`.
    pub image: String,
    /// Containers are named `<name_prefix>-<instance>`.
    pub name_prefix: String,
    /// Lock files, `audit.jsonl` and purge manifests.
    pub state_dir: PathBuf,
    /// Host address the ports are published on.
    pub publish_ip: String,
    pub health_deadline_secs: u64,
    pub stop_timeout_secs: u64,
    /// Docker restart policy: no, always, unless-stopped, on-failure.
    pub restart: String,
    /// Paths whose public URLs are purged from the CDN when their bytes change.
    pub cache_paths: Vec<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            image: "scitex-orochi".into(),
            name_prefix: "orochi".into(),
            state_dir: PathBuf::from("/data/orochi-deploy"),
            publish_ip: "127.0.0.1".into(),
            health_deadline_secs: 30,
            stop_timeout_secs: 10,
            restart: "unless-stopped".into(),
            cache_paths: ["/", "/sw.js", "/manifest.json", "/manifest.webmanifest", "/favicon.ico"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// One `[instances.NAME]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    #[serde(skip)]
    pub name: String,
    /// Host port of the HTTP listener (dashboard, REST, /healthz).
    pub dashboard_port: u16,
    /// Host port of the agent WebSocket.
    pub ws_port: u16,
    /// Host folder mounted at /data (database, media, .admin-token).
    pub data_dir: PathBuf,
    /// Public origin of the dashboard, e.g. https://orochi.scitex.ai.
    pub public_url: String,
    /// Public agent WebSocket URL, e.g. wss://ws.orochi.scitex.ai/.
    pub public_ws_url: String,
    pub env_file: PathBuf,
    /// Production instance: empty or placeholder secrets are refused.
    #[serde(default)]
    pub production: bool,
    /// Variables its env file must set.
    #[serde(default)]
    pub required: Vec<String>,
    /// Instance whose hub this one's dashboard observes: its `public_url` becomes this one's
    /// `SCITEX_OROCHI_DASHBOARD_WS_UPSTREAM`, and its CORS admits this one's `public_url`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// `uid:gid` the hub runs as; default: the owner of `data_dir`.
    #[serde(default)]
    pub user: Option<String>,
    /// Hub containers of this instance, 1..=16 (see `replicas`); more than one needs
    /// `SCITEX_OROCHI_DB=postgres://…` in the env file.
    #[serde(default = "one")]
    pub replicas: usize,
    /// Docker engines the replicas are placed on, round-robin (`unix:///…`, a socket path,
    /// `tcp://host:port`, `http://host:port`); empty: the controller's own engine.
    #[serde(default)]
    pub engines: Vec<String>,
    /// Test and development only: replicas > 1 on the SQLite database (they do not share one
    /// timeline then).
    #[serde(default)]
    pub allow_sqlite_replicas: bool,
    /// Extra bind mounts `HOST:CONTAINER[:ro]` of every replica, e.g. the folder of a
    /// PostgreSQL unix socket.
    #[serde(default)]
    pub binds: Vec<String>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    defaults: Defaults,
    instances: BTreeMap<String, Instance>,
}

/// The parsed, checked desired state.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: PathBuf,
    pub dir: PathBuf,
    pub defaults: Defaults,
    pub instances: BTreeMap<String, Instance>,
}

impl Spec {
    /// `explicit`, else `deploy/instances.toml` in the working directory or a parent.
    pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, SpecError> {
        if let Some(p) = explicit {
            return Ok(p.to_path_buf());
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        cwd.ancestors().map(|d| d.join(DEFAULT_SPEC)).find(|p| p.is_file()).ok_or(SpecError::NotFound(cwd))
    }

    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read { path: path.into(), source })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|source| SpecError::Toml { path: path.into(), source })?;
        // Absolute, so that a relative data_dir never becomes a Docker named volume.
        let path = &std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
        let mut defaults = raw.defaults;
        defaults.state_dir = normalize(&dir.join(&defaults.state_dir));
        let mut instances = raw.instances;
        for (name, inst) in instances.iter_mut() {
            inst.name = name.clone();
            inst.env_file = normalize(&dir.join(&inst.env_file));
            inst.data_dir = normalize(&dir.join(&inst.data_dir));
            for b in inst.binds.iter_mut() {
                if !b.starts_with('/') {
                    *b = format!("{}/{b}", dir.display());
                }
            }
        }
        let spec = Spec { path: path.into(), dir, defaults, instances };
        spec.check()?;
        Ok(spec)
    }

    pub(super) fn invalid(&self, instance: &str, message: impl Into<String>) -> SpecError {
        SpecError::Invalid { path: self.path.clone(), instance: instance.into(), message: message.into() }
    }

    fn check(&self) -> Result<(), SpecError> {
        if self.instances.is_empty() {
            return Err(SpecError::Parse { path: self.path.clone(), message: "no [instances.NAME] table".into() });
        }
        if !["no", "always", "unless-stopped", "on-failure"].contains(&self.defaults.restart.as_str()) {
            return Err(self.invalid("defaults", format!("restart {:?} is not no, always, unless-stopped or on-failure", self.defaults.restart)));
        }
        if let Some(p) = self.defaults.cache_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(self.invalid("defaults", format!("cache path {p:?} must start with /")));
        }
        for (name, inst) in &self.instances {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                return Err(self.invalid(name, "names use a-z, 0-9 and -"));
            }
            if !is_origin(&inst.public_url) {
                return Err(self.invalid(name, format!("public_url {:?} must be an origin like https://host", inst.public_url)));
            }
            if !url::Url::parse(&inst.public_ws_url).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss")) {
                return Err(self.invalid(name, format!("public_ws_url {:?} must be a ws:// or wss:// URL", inst.public_ws_url)));
            }
            if let Some(up) = &inst.upstream
                && (up == name || !self.instances.contains_key(up))
            {
                return Err(self.invalid(name, format!("upstream {up:?} is not another declared instance")));
            }
            if let Some(user) = &inst.user
                && user.trim().is_empty()
            {
                return Err(self.invalid(name, "user must be uid:gid or a name"));
            }
        }
        self.check_replicas()
    }

    pub fn instance(&self, name: &str) -> Result<&Instance, SpecError> {
        self.instances.get(name).ok_or_else(|| SpecError::UnknownInstance {
            name: name.into(),
            path: self.path.clone(),
            known: self.instances.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn container_name(&self, inst: &Instance) -> String {
        format!("{}-{}", self.defaults.name_prefix, inst.name)
    }

    /// The container that publishes the instance's ports (see `desired::holder`).
    pub fn holder_name(&self, inst: &Instance) -> String {
        format!("{}-ports", self.container_name(inst))
    }

    /// Instances whose dashboards observe `name`.
    pub fn downstreams(&self, name: &str) -> Vec<&Instance> {
        self.instances.values().filter(|i| i.upstream.as_deref() == Some(name)).collect()
    }

    /// The instance whose hub `inst`'s dashboard observes.
    pub fn upstream_of(&self, inst: &Instance) -> Option<&Instance> {
        inst.upstream.as_ref().and_then(|u| self.instances.get(u))
    }

    /// Address the controller probes the published ports on.
    pub fn probe_host(&self) -> String {
        match self.defaults.publish_ip.as_str() {
            "" | "0.0.0.0" => "127.0.0.1".into(),
            "::" => "[::1]".into(),
            ip if ip.contains(':') => format!("[{ip}]"),
            ip => ip.into(),
        }
    }

    /// The container's environment: the env file minus controller-only and managed variables,
    /// plus the managed values and the dev/stable wiring. Sorted by name.
    pub fn container_env(&self, inst: &Instance, file: &[(String, String)]) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in file {
            if !CONTROLLER_ONLY.contains(&k.as_str()) && !MANAGED.contains(&k.as_str()) {
                env.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in self.managed_values() {
            env.insert(k.into(), v);
        }
        // A PostgreSQL URL is the database every replica shares; a path stays managed.
        if let Some((_, db)) = file.iter().rev().find(|(k, v)| k == names::DB && DbLocation::names_postgres(v)) {
            env.insert(names::DB.into(), db.clone());
        }
        if let Some(up) = self.upstream_of(inst) {
            env.insert(WS_UPSTREAM.into(), up.public_url.clone());
        }
        let downstream: Vec<String> = self.downstreams(&inst.name).iter().map(|d| d.public_url.trim_end_matches('/').to_string()).collect();
        if !downstream.is_empty() {
            let mut origins: Vec<String> = env
                .get(CORS_ORIGINS)
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
                .unwrap_or_default();
            for d in downstream {
                if !origins.contains(&d) {
                    origins.push(d);
                }
            }
            env.insert(CORS_ORIGINS.into(), origins.join(","));
        }
        env.into_iter().collect()
    }

    /// The managed variables and their values in every container.
    pub fn managed_values(&self) -> Vec<(&'static str, String)> {
        vec![
            (names::HOST, "0.0.0.0".into()),
            (names::PORT, CONTAINER_WS_PORT.to_string()),
            (names::DASHBOARD_PORT, CONTAINER_HTTP_PORT.to_string()),
            (names::DB, format!("{DATA_MOUNT}/orochi.db")),
            (names::MEDIA_ROOT, format!("{DATA_MOUNT}/media")),
        ]
    }
}

/// Removes `.` and `dir/..` pairs without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

fn is_origin(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.path() == "/" && u.query().is_none())
}

/// `uid:gid` of a folder's owner (the default user of an instance).
#[cfg(unix)]
pub fn owner_of(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| format!("{}:{}", m.uid(), m.gid()))
}

#[cfg(not(unix))]
pub fn owner_of(_: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
[defaults]
state_dir = "state"
[instances.stable]
dashboard_port = 8559
ws_port = 9559
data_dir = "/data/s"
public_url = "https://orochi.example"
public_ws_url = "wss://ws.orochi.example/"
env_file = "stable.env"
[instances.dev]
dashboard_port = 8560
ws_port = 9560
data_dir = "/data/s"
public_url = "https://dev.orochi.example"
public_ws_url = "wss://ws-dev.orochi.example/"
env_file = "dev.env"
upstream = "stable"
"#;

    #[test]
    fn wiring_comes_from_the_spec() {
        let spec = Spec::parse(Path::new("/repo/deploy/instances.toml"), TEXT).unwrap();
        assert_eq!(spec.defaults.state_dir, Path::new("/repo/deploy/state"));
        let file = vec![
            ("SCITEX_OROCHI_CORS_ORIGINS".to_string(), "https://a.example".to_string()),
            ("SCITEX_OROCHI_PORT".to_string(), "1".to_string()),
            ("SCITEX_OROCHI_CLOUDFLARE_API_TOKEN".to_string(), "t".to_string()),
        ];
        let stable = spec.container_env(spec.instance("stable").unwrap(), &file);
        let get = |env: &[(String, String)], k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get(&stable, CORS_ORIGINS).unwrap(), "https://a.example,https://dev.orochi.example");
        assert_eq!(get(&stable, "SCITEX_OROCHI_PORT").unwrap(), "9559");
        assert!(get(&stable, "SCITEX_OROCHI_CLOUDFLARE_API_TOKEN").is_none());
        let dev = spec.container_env(spec.instance("dev").unwrap(), &[]);
        // The dashboard URL (observer socket /ws and REST), not the agent socket.
        assert_eq!(get(&dev, WS_UPSTREAM).unwrap(), "https://orochi.example");
    }

    #[test]
    fn conflicts_are_refused() {
        let bad = TEXT.replace("ws_port = 9560", "ws_port = 9559");
        assert!(Spec::parse(Path::new("x.toml"), &bad).unwrap_err().to_string().contains("9559"));
        let bad = TEXT.replace("upstream = \"stable\"", "upstream = \"prod\"");
        assert!(Spec::parse(Path::new("x.toml"), &bad).is_err());
        assert!(Spec::parse(Path::new("x.toml"), &TEXT.replace("ws_port = 9560", "ws_port = 9560\ncolour = 1")).is_err());
    }
}
