//! Replicas of an instance: `replicas = N` hub containers, spread round-robin over the spec's
//! Docker `engines`, each with its own port holder and host ports (`dashboard_port + i`,
//! `ws_port + i`). Replica 0 keeps the instance's own names (`<prefix>-<instance>` and
//! `-ports`), so going from one replica to several and back never renames or re-publishes the
//! container that serves; replica i >= 1 is `<prefix>-<instance>-<i>`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::spec::{DATA_MOUNT, Instance, Spec, SpecError};
use crate::config::DbLocation;

/// Most replicas one instance may run.
pub const MAX_REPLICAS: usize = 16;

/// One replica as the spec places it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replica {
    pub index: usize,
    /// The hub container.
    pub container: String,
    /// The container that publishes its ports.
    pub holder: String,
    /// The engine it runs on, as the spec names it; `None`: the controller's own engine
    /// (`DOCKER_HOST` or the local socket).
    pub engine: Option<String>,
    pub dashboard_port: u16,
    pub ws_port: u16,
    /// Where the controller reaches its published ports.
    #[serde(skip)]
    pub probe_host: String,
}

impl Replica {
    pub fn http_base(&self) -> String {
        format!("http://{}:{}", self.probe_host, self.dashboard_port)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}:{}/", self.probe_host, self.ws_port)
    }

    /// The engine as status shows it.
    pub fn engine_name(&self) -> String {
        self.engine.clone().unwrap_or_else(|| "default".into())
    }
}

/// `unix:///path` for a bare socket path; other forms as written.
pub fn engine_url(engine: &str) -> String {
    if engine.starts_with('/') { format!("unix://{engine}") } else { engine.to_string() }
}

fn engine_host(engine: &str) -> Option<String> {
    let url = url::Url::parse(&engine_url(engine)).ok()?;
    match url.scheme() {
        "tcp" | "http" => url.host_str().map(|h| if h.contains(':') && !h.starts_with('[') { format!("[{h}]") } else { h.to_string() }),
        _ => None,
    }
}

impl Spec {
    /// The replicas of `inst`, in index order.
    pub fn replicas(&self, inst: &Instance) -> Vec<Replica> {
        let base = self.container_name(inst);
        (0..inst.replicas)
            .map(|i| {
                let container = if i == 0 { base.clone() } else { format!("{base}-{i}") };
                let engine = (!inst.engines.is_empty()).then(|| inst.engines[i % inst.engines.len()].clone());
                let probe_host = engine.as_deref().and_then(engine_host).unwrap_or_else(|| self.probe_host());
                Replica {
                    index: i,
                    holder: format!("{container}-ports"),
                    container,
                    engine,
                    // `check_replicas` refused an overflow.
                    dashboard_port: inst.dashboard_port.saturating_add(i as u16),
                    ws_port: inst.ws_port.saturating_add(i as u16),
                    probe_host,
                }
            })
            .collect()
    }

    /// The index of a container or holder this instance's replicas are named like
    /// (`<base>-<i>`, `<base>-<i>-ports`), whether or not the spec still asks for it.
    pub fn replica_index_of(&self, inst: &Instance, name: &str) -> Option<usize> {
        let base = self.container_name(inst);
        match name.strip_prefix(&base)? {
            "" | "-ports" => Some(0),
            rest => {
                let digits = rest.strip_prefix('-')?;
                let digits = digits.strip_suffix("-ports").unwrap_or(digits);
                digits.parse().ok().filter(|i| *i > 0 && !digits.starts_with('0'))
            }
        }
    }

    /// Replicas, engines, binds, and host ports and names distinct across all instances.
    pub(super) fn check_replicas(&self) -> Result<(), SpecError> {
        let mut ports: BTreeMap<u16, String> = BTreeMap::new();
        let mut names: BTreeMap<String, String> = BTreeMap::new();
        for (name, inst) in &self.instances {
            if !(1..=MAX_REPLICAS).contains(&inst.replicas) {
                return Err(self.invalid(name, format!("replicas = {}: an instance runs 1 to {MAX_REPLICAS} replicas", inst.replicas)));
            }
            let last = inst.replicas as u16 - 1;
            if inst.dashboard_port.checked_add(last).is_none() || inst.ws_port.checked_add(last).is_none() {
                return Err(self.invalid(name, format!("{} replicas use the ports from dashboard_port and ws_port up; they pass 65535", inst.replicas)));
            }
            if let Some(e) = inst.engines.iter().find(|e| !(e.starts_with('/') || ["unix://", "tcp://", "http://"].iter().any(|s| e.starts_with(s)))) {
                return Err(self.invalid(name, format!("engine {e:?} must be unix:///path/docker.sock, a socket path, tcp://host:port or http://host:port (plain: TLS engines are not supported)")));
            }
            if let Some(b) = inst.binds.iter().find(|b| !valid_bind(b)) {
                return Err(self.invalid(name, format!("bind {b:?} must be HOST:CONTAINER or HOST:CONTAINER:ro with an absolute CONTAINER path other than {DATA_MOUNT}")));
            }
            for r in self.replicas(inst) {
                let who = if inst.replicas == 1 { name.clone() } else { format!("{name} replica {}", r.index) };
                for port in [r.dashboard_port, r.ws_port] {
                    if port == 0 {
                        return Err(self.invalid(name, "port 0 cannot be published"));
                    }
                    if let Some(other) = ports.insert(port, who.clone()) {
                        return Err(self.invalid(name, format!("host port {port} of {who} is also used by {other} (replica i uses dashboard_port + i and ws_port + i)")));
                    }
                }
                for n in [r.container, r.holder] {
                    if let Some(other) = names.insert(n.clone(), who.clone()) {
                        return Err(self.invalid(name, format!("container name {n} of {who} is also {other}'s")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Replicas share one timeline only through PostgreSQL: several hubs on one SQLite file
    /// would each number messages on their own. `db` is the env file's `SCITEX_OROCHI_DB`.
    pub fn check_store(&self, inst: &Instance, db: Option<&str>) -> Result<(), SpecError> {
        if inst.replicas > 1 && !inst.allow_sqlite_replicas && !db.is_some_and(DbLocation::names_postgres) {
            return Err(self.invalid(
                &inst.name,
                format!(
                    "replicas = {} needs SCITEX_OROCHI_DB=postgres://… in {} (replicas on one SQLite file would not share one timeline); set it, or use replicas = 1",
                    inst.replicas,
                    inst.env_file.display()
                ),
            ));
        }
        Ok(())
    }
}

fn valid_bind(b: &str) -> bool {
    let parts: Vec<&str> = b.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, "rw"),
        [h, c, m] => (*h, *c, *m),
        _ => return false,
    };
    !host.is_empty() && container.starts_with('/') && container.trim_end_matches('/') != DATA_MOUNT && matches!(mode, "ro" | "rw")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn spec(extra: &str) -> Result<Spec, SpecError> {
        let text = format!(
            "[defaults]\nname_prefix = \"o\"\n[instances.stable]\ndashboard_port = 8559\nws_port = 9559\ndata_dir = \"d\"\npublic_url = \"https://o.example\"\npublic_ws_url = \"wss://ws.o.example/\"\nenv_file = \"e\"\n{extra}"
        );
        Spec::parse(Path::new("/repo/deploy/instances.toml"), &text)
    }

    #[test]
    fn replicas_are_named_placed_and_ported() {
        let s = spec("replicas = 3\nengines = [\"/var/run/docker.sock\", \"tcp://10.0.0.2:2375\"]\n").unwrap();
        let r = s.replicas(s.instance("stable").unwrap());
        let names: Vec<&str> = r.iter().map(|r| r.container.as_str()).collect();
        assert_eq!(names, ["o-stable", "o-stable-1", "o-stable-2"]);
        assert_eq!(r[1].holder, "o-stable-1-ports");
        assert_eq!((r[2].dashboard_port, r[2].ws_port), (8561, 9561));
        assert_eq!(r[0].engine.as_deref(), Some("/var/run/docker.sock"));
        assert_eq!(r[2].engine, r[0].engine, "round-robin");
        assert_eq!(r[1].http_base(), "http://10.0.0.2:8560");
        assert_eq!(r[0].probe_host, "127.0.0.1");
        let inst = s.instance("stable").unwrap();
        assert_eq!(s.replica_index_of(inst, "o-stable"), Some(0));
        assert_eq!(s.replica_index_of(inst, "o-stable-5-ports"), Some(5));
        assert_eq!(s.replica_index_of(inst, "o-stable-next"), None);
        assert_eq!(s.replica_index_of(inst, "o-stablex-1"), None);
        // One replica: today's names and ports.
        let one = spec("").unwrap();
        let r = one.replicas(one.instance("stable").unwrap());
        assert_eq!((r.len(), r[0].container.as_str(), r[0].holder.as_str(), r[0].dashboard_port), (1, "o-stable", "o-stable-ports", 8559));
    }

    #[test]
    fn bad_replica_settings_are_refused_with_the_fix() {
        for (extra, words) in [
            ("replicas = 0", "1 to 16"),
            ("replicas = 17", "1 to 16"),
            ("replicas = 2\n[instances.dev]\ndashboard_port = 8560\nws_port = 9570\ndata_dir = \"d\"\npublic_url = \"https://d.example\"\npublic_ws_url = \"wss://d.example/\"\nenv_file = \"e\"", "8560"),
            ("engines = [\"ssh://h\"]", "tcp://"),
            ("binds = [\"/run/pg:/data\"]", "bind"),
            ("binds = [\"/run/pg\"]", "bind"),
        ] {
            let e = spec(extra).unwrap_err().to_string();
            assert!(e.contains(words), "{extra}: {e}");
        }
        let s = spec("replicas = 2\n").unwrap();
        let inst = s.instance("stable").unwrap();
        let e = s.check_store(inst, Some("/data/orochi.db")).unwrap_err().to_string();
        assert!(e.contains("SCITEX_OROCHI_DB=postgres://") && e.contains("replicas = 1"), "{e}");
        assert!(s.check_store(inst, None).is_err());
        assert!(s.check_store(inst, Some("postgres://orochi@/orochi?host=/run/orochi-pg")).is_ok());
        let s = spec("replicas = 2\nallow_sqlite_replicas = true\nbinds = [\"/run/orochi-pg:/run/orochi-pg:ro\"]\n").unwrap();
        assert!(s.check_store(s.instance("stable").unwrap(), None).is_ok());
    }

    #[test]
    fn a_postgres_url_in_the_env_file_replaces_the_managed_sqlite_file() {
        let s = spec("").unwrap();
        let inst = s.instance("stable").unwrap();
        let db = |file: &[(&str, &str)]| {
            let file: Vec<(String, String)> = file.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            s.container_env(inst, &file).into_iter().find(|(k, _)| k == crate::config::names::DB).map(|(_, v)| v)
        };
        let url = "postgres://orochi@/orochi?host=/run/orochi-pg";
        assert_eq!(db(&[("SCITEX_OROCHI_DB", url)]).as_deref(), Some(url));
        assert_eq!(db(&[("SCITEX_OROCHI_DB", "/elsewhere.db")]).as_deref(), Some("/data/orochi.db"), "a path stays managed");
        assert_eq!(db(&[]).as_deref(), Some("/data/orochi.db"));
    }
}
