//! Whether an instance's hub containers can reach the PostgreSQL its env file names, checked
//! before anything is touched: a container's loopback is its own, so the server is reached
//! by an address the containers route to or by its unix socket folder bound into them (see
//! docs/scale-out.md). Otherwise every replica would fail its health gate with "error
//! connecting to server".

use std::net::IpAddr;
#[cfg(unix)]
use std::path::{Path, PathBuf};

use tokio_postgres::config::Host;

use super::replicas::Replica;
use super::spec::{Instance, Spec, SpecError};
use crate::config::DbLocation;

/// PostgreSQL's port when the URL names none; its socket file is named after the port.
const DEFAULT_PORT: u16 = 5432;

/// The host folder bound at `container_dir` or at a folder above it (the deepest bind, as
/// the container sees it), with the rest appended.
#[cfg(unix)]
fn bound_at(binds: &[String], container_dir: &Path) -> Option<PathBuf> {
    binds
        .iter()
        .filter_map(|b| {
            let mut parts = b.split(':');
            let (host, container) = (parts.next()?, parts.next()?);
            let rest = container_dir.strip_prefix(container).ok()?;
            Some((Path::new(container).components().count(), Path::new(host).join(rest)))
        })
        .max_by_key(|(depth, _)| *depth)
        .map(|(_, on_host)| on_host)
}

/// Why one host of the URL is out of the containers' reach; `None` when it is not, as far as
/// the controller can tell. `here`: the replica runs on this machine, so a bound folder can
/// be looked at.
fn host_problem(inst: &Instance, host: &Host, port: u16, here: bool) -> Option<String> {
    match host {
        Host::Tcp(name) => {
            let loopback = name.eq_ignore_ascii_case("localhost") || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            loopback.then(|| {
                format!(
                    "SCITEX_OROCHI_DB names host {name}, which inside a container is the container itself: bind the server's socket folder into the replicas (binds = [\"/run/postgresql:/run/orochi-pg\"]) and use ?host=/run/orochi-pg, or name an address the containers reach"
                )
            })
        }
        #[cfg(unix)]
        Host::Unix(dir) => {
            let Some(on_host) = bound_at(&inst.binds, dir) else {
                return Some(format!(
                    "the PostgreSQL socket folder {} of SCITEX_OROCHI_DB is not bound into the containers: add binds = [\"HOST_FOLDER:{}\"]",
                    dir.display(),
                    dir.display()
                ));
            };
            let socket = on_host.join(format!(".s.PGSQL.{port}"));
            (here && !socket.exists()).then(|| {
                format!(
                    "no PostgreSQL socket {} (bound at {}): is the server running on port {port}? add &port=N to SCITEX_OROCHI_DB when it listens on another",
                    socket.display(),
                    dir.display()
                )
            })
        }
    }
}

impl Spec {
    /// Refuses a PostgreSQL URL in `db` (the env file's `SCITEX_OROCHI_DB`) whose every host
    /// replica `r` cannot reach; names the first host's problem. Never quotes the URL.
    pub(super) fn check_reach(&self, inst: &Instance, r: &Replica, db: Option<&str>) -> Result<(), SpecError> {
        let Some(raw) = db.filter(|d| DbLocation::names_postgres(d)) else { return Ok(()) };
        // validate-env reports a URL that does not parse.
        let Ok(config) = raw.trim().parse::<tokio_postgres::Config>() else { return Ok(()) };
        let here = r.engine.as_deref().is_none_or(|e| e.starts_with('/') || e.starts_with("unix://"));
        let ports = config.get_ports();
        let problems: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(DEFAULT_PORT);
                host_problem(inst, h, port, here)
            })
            .collect();
        match problems.first() {
            Some(p) if problems.len() == config.get_hosts().len() => Err(self.invalid(&inst.name, p.clone())),
            _ => Ok(()),
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn spec(dir: &Path, binds: &str) -> Spec {
        let text = format!(
            "[instances.stable]\ndashboard_port = 8559\nws_port = 9559\ndata_dir = \"d\"\npublic_url = \"https://o.example\"\npublic_ws_url = \"wss://ws.o.example/\"\nenv_file = \"e\"\nreplicas = 2\nbinds = [{binds}]\n"
        );
        Spec::parse(&dir.join("instances.toml"), &text).unwrap()
    }

    fn reach(s: &Spec, url: &str) -> Result<(), String> {
        let inst = s.instance("stable").unwrap();
        s.check_reach(inst, &s.replicas(inst)[0], Some(url)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_containers_must_reach_the_server_by_a_bound_socket_or_a_routed_address() {
        let dir = tempfile::tempdir().unwrap();
        let sockets = dir.path().join("pg");
        std::fs::create_dir(&sockets).unwrap();
        std::fs::write(sockets.join(".s.PGSQL.5433"), "").unwrap();
        let bound = spec(dir.path(), &format!("\"{}:/run/orochi-pg\"", sockets.display()));
        assert_eq!(reach(&bound, "postgres://o:hunter2@/orochi?host=/run/orochi-pg&port=5433"), Ok(()));
        assert_eq!(reach(&bound, "postgres://o@db.example:5432/orochi"), Ok(()));
        assert_eq!(reach(&bound, "/data/orochi.db"), Ok(()), "not PostgreSQL: not this check's");
        let e = reach(&bound, "postgres://o:hunter2@/orochi?host=/run/orochi-pg").unwrap_err();
        assert!(e.contains(".s.PGSQL.5432") && e.contains("&port=N") && !e.contains("hunter2"), "{e}");
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            let e = reach(&bound, &format!("postgres://o:hunter2@{host}/orochi")).unwrap_err();
            assert!(e.contains("the container itself") && !e.contains("hunter2"), "{host}: {e}");
        }
        let unbound = spec(dir.path(), "");
        let e = reach(&unbound, "postgres://o@/orochi?host=/run/orochi-pg&port=5433").unwrap_err();
        assert!(e.contains("not bound") && e.contains("HOST_FOLDER:/run/orochi-pg"), "{e}");
        // A folder above the socket's is bound; one reachable host of several is enough.
        let above = spec(dir.path(), &format!("\"{}:/run:ro\"", dir.path().display()));
        assert_eq!(reach(&above, "postgres://o@/orochi?host=/run/pg&port=5433"), Ok(()));
        assert_eq!(reach(&unbound, "postgres://o@localhost,db.example/orochi"), Ok(()));
    }
}
