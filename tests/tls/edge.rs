//! A real TLS edge for the tests: nginx from Debian on 127.0.0.1 (an ephemeral port), with a
//! private CA and a server certificate for `localhost` and 127.0.0.1 made here, proxying every
//! path, WebSocket upgrades included, to the hub's HTTP port: one origin, as in production.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A CA: its certificate (PEM, for `SSL_CERT_FILE`) and what signs with it.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { pem, issuer: Issuer::new(params, key) }
    }

    /// A server certificate and its key (PEM) for `localhost` and 127.0.0.1.
    fn server(&self) -> (String, String) {
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// The CA every edge of this test process uses, and its file. One per process: the client's
/// TLS roots are read once per process.
pub struct TestCa {
    pub ca: Ca,
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn ca() -> &'static TestCa {
    static CA: OnceLock<TestCa> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("orochi test CA");
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, &ca.pem).unwrap();
        TestCa { ca, file, _dir: dir }
    })
}

/// nginx in front of `upstream`, its own process (no daemon, no workers), killed on drop.
pub struct Edge {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Edge {
    pub fn start(upstream: SocketAddr) -> Edge {
        let nginx = which_nginx();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca().ca.server();
        std::fs::write(dir.path().join("server.pem"), cert).unwrap();
        std::fs::write(dir.path().join("server.key"), key).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::write(dir.path().join("nginx.conf"), conf(dir.path(), port, upstream)).unwrap();
        let child = spawn(&nginx, dir.path());
        let edge = Edge { port, dir, child };
        edge.wait_listening();
        edge
    }

    /// Starts nginx again on the same port after [`Edge::stop`].
    pub fn start_again(&mut self) {
        self.child = spawn(&which_nginx(), self.dir.path());
        self.wait_listening();
    }

    /// `wss://localhost:PORT`, a bare base as users write it.
    pub fn base(&self) -> String {
        format!("wss://localhost:{}", self.port)
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

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop();
    }
}

fn which_nginx() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].iter().map(PathBuf::from).find(|p| p.exists()).unwrap_or_else(|| {
        panic!("nginx is not installed: the TLS edge tests need Debian's nginx-light (.ci/run installs it: apt-get install nginx-light)")
    })
}

fn spawn(nginx: &Path, dir: &Path) -> Child {
    Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg("stderr")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off; master_process off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts")
}

/// As in docs/deploy.md: WebSocket upgrades passed through, long read timeouts.
fn conf(dir: &Path, port: u16, upstream: SocketAddr) -> String {
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
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        client_max_body_size 25m;
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }}
    }}
}}
"#
    )
}
