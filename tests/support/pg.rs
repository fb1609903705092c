//! Real PostgreSQL 15 servers for the tests: `initdb` as the `postgres` user into a temporary
//! folder, `pg_ctl start` on a free loopback port and a unix socket in the folder's `socket`
//! (trust authentication: any local user, e.g. a hub container the folder is bound into).
//!
//! [`shared`] is one server for the whole test run: nextest runs every test in a process of its
//! own, so the processes of one run (children of one runner) find it through a folder named
//! after the runner's pid, created under a file lock; a watcher stops it and removes the folder
//! when the runner exits. Each test still gets a database of its own ([`PgServer::fresh_db`]).
//! [`PgServer::private`] is a server one test owns (to stop and start it), stopped on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    /// Stopped and removed on drop (a private server); the shared one has its watcher.
    owned: bool,
    /// Serves TLS with `server.crt` and `server.key` of its folder.
    tls: bool,
    /// fsync on, as a deployment runs it (the load generator's server); off for the tests.
    fsync: bool,
}

/// The folder of `initdb` and `pg_ctl`: on PATH, else Debian's PostgreSQL 15.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .find(|d| d.join("pg_ctl").is_file() && d.join("initdb").is_file());
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    on_path.or_else(|| debian.join("pg_ctl").is_file().then_some(debian)).unwrap_or_else(|| {
        panic!("PostgreSQL 15 is not installed (no initdb and pg_ctl on PATH or in /usr/lib/postgresql/15/bin): apt-get install postgresql, or run scripts/test, which installs it")
    })
}

/// Runs a PostgreSQL program as the `postgres` user (the server refuses to run as root).
fn as_postgres(bin: &Path, program: &str, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} as postgres: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server of this test run.
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runner = std::os::unix::process::parent_id();
        let dir = std::env::temp_dir().join(format!("orochi-test-pg-{runner}"));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = File::create(dir.join("lock")).unwrap();
        lock.lock().unwrap();
        let bin = bin_dir();
        let port_file = dir.join("port");
        if let Ok(port) = std::fs::read_to_string(&port_file) {
            return PgServer { port: port.trim().parse().unwrap(), dir, bin, owned: false, tls: false, fsync: false };
        }
        let server = PgServer::init(dir, bin, false, None);
        // Stops the server once the runner is gone, whatever way its tests ended: a watcher in
        // the background (the shell that starts it returns at once).
        let script = format!(
            "(while kill -0 {runner} 2>/dev/null; do sleep 1; done; runuser -u postgres -- {} -D {} stop -m immediate; rm -rf {}) >/dev/null 2>&1 &",
            server.bin.join("pg_ctl").display(),
            server.data().display(),
            server.dir.display()
        );
        let started = Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).status().unwrap();
        assert!(started.success(), "the watcher of the test server starts");
        std::fs::write(&port_file, server.port.to_string()).unwrap();
        server
    })
}

impl PgServer {
    /// A server this test owns; stopped and removed when dropped.
    pub fn private() -> PgServer {
        PgServer::init(tempfile::tempdir().unwrap().keep(), bin_dir(), true, None)
    }

    /// A private server that syncs its commits to disk, for measurements (the load generator).
    #[allow(dead_code, reason = "used by benches/load, which includes this file; the tests use fsync off")]
    pub fn private_durable() -> PgServer {
        let mut server = PgServer::private();
        server.stop();
        server.fsync = true;
        server.start();
        server
    }

    /// A private server that also speaks TLS with this certificate and key (PEM).
    pub fn private_tls(cert: &str, key: &str) -> PgServer {
        PgServer::init(tempfile::tempdir().unwrap().keep(), bin_dir(), true, Some((cert, key)))
    }

    fn init(dir: PathBuf, bin: PathBuf, owned: bool, tls: Option<(&str, &str)>) -> PgServer {
        let uid = |flag: &str| {
            let out = Command::new("id").args([flag, "postgres"]).output().expect("id runs");
            String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().expect("the postgres user exists (apt-get install postgresql)")
        };
        let owner = (Some(uid("-u")), Some(uid("-g")));
        std::os::unix::fs::chown(&dir, owner.0, owner.1).unwrap();
        // Searchable by every uid, so a container running as any user reaches the socket.
        let socket = dir.join("socket");
        std::fs::create_dir(&socket).unwrap();
        std::os::unix::fs::chown(&socket, owner.0, owner.1).unwrap();
        std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        if let Some((cert, key)) = tls {
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = dir.join(name);
                std::fs::write(&path, pem).unwrap();
                std::os::unix::fs::chown(&path, owner.0, owner.1).unwrap();
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            }
        }
        let server = PgServer { port: free_port(), dir, bin, owned, tls: tls.is_some(), fsync: false };
        let data = server.data();
        as_postgres(&server.bin, "initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        server.start();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The folder of the server's unix socket (`?host=` of a URL).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("socket")
    }

    /// Starts (again) on the same port. fsync is off for the tests: they crash hubs, never the server.
    pub fn start(&self) {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync={} -c max_connections=200",
            self.port,
            self.socket_dir().display(),
            if self.fsync { "on" } else { "off" }
        );
        if self.tls {
            let file = |name: &str| self.dir.join(name).display().to_string();
            options += &format!(" -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}", file("server.crt"), file("server.key"));
        }
        let log = self.dir.join("log");
        as_postgres(&self.bin, "pg_ctl", &["-D", self.data().to_str().unwrap(), "-l", log.to_str().unwrap(), "-w", "-o", &options, "start"]);
    }

    /// Stops at once (clients see their connections cut).
    pub fn stop(&self) {
        as_postgres(&self.bin, "pg_ctl", &["-D", self.data().to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    /// A new empty database of its own: its URL.
    pub async fn fresh_db(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let (client, conn) =
            tokio_postgres::connect(&format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port), tokio_postgres::NoTls)
                .await
                .expect("the test server accepts connections");
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .args(["-D", self.data().to_str().unwrap(), "-m", "immediate", "stop"])
                .output();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
