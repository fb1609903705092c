//! nginx from Debian as the tests' edge: its own process (no daemon, no workers) on an ephemeral
//! loopback port, configured in a temporary folder, killed on drop. Test binaries include this
//! file with `#[path = "../support/nginx.rs"] mod nginx;` and write only their `server` blocks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Nginx {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Nginx {
    /// Writes `conf(folder, port)` as `nginx.conf` (after `files(folder)` wrote what it names)
    /// and waits until nginx listens.
    pub fn start(files: impl FnOnce(&Path), conf: impl FnOnce(&Path, u16) -> String) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        files(dir.path());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(dir.path().join("nginx.conf"), conf(dir.path(), port)).unwrap();
        let child = spawn(dir.path());
        let nginx = Nginx { port, dir, child };
        nginx.wait_listening();
        nginx
    }

    /// Starts nginx again on the same port after [`Nginx::stop`].
    pub fn start_again(&mut self) {
        self.child = spawn(self.dir.path());
        self.wait_listening();
    }

    /// Kills nginx: every connection through it drops.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {} within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A whole `nginx.conf`: temporary paths in `dir`, the WebSocket upgrade map, then `blocks`
/// (`upstream` and `server` blocks) inside `http`.
pub fn http_conf(dir: &Path, blocks: &str) -> String {
    let d = dir.display();
    format!(
        r#"pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
{blocks}}}
"#
    )
}

/// The `location /` of docs/deploy.md and docs/scale-out.md: WebSocket upgrades passed through,
/// long read timeouts, no buffering; `extra` adds directives (e.g. `X-Forwarded-Proto`).
pub fn proxy_location(target: &str, extra: &str) -> String {
    format!(
        r#"        location / {{
            proxy_pass {target};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
{extra}            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
"#
    )
}

fn which_nginx() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| {
        panic!("nginx is not installed: the edge tests need Debian's nginx-light (.ci/run installs it: apt-get install nginx-light)")
    })
}

fn spawn(dir: &Path) -> Child {
    Command::new(which_nginx())
        .arg("-p")
        .arg(dir)
        .args(["-e", "stderr", "-c"])
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts")
}
