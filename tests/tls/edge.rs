//! A real TLS edge for the tests: nginx from Debian on 127.0.0.1 (an ephemeral port), with a
//! private CA and a server certificate for `localhost` and 127.0.0.1 made here, proxying every
//! path, WebSocket upgrades included, to the hub's HTTP port: one origin, as in production.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::nginx::{Nginx, http_conf, proxy_location};
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

/// nginx with TLS in front of `upstream` (see tests/support/nginx.rs).
pub struct Edge(Nginx);

impl Edge {
    pub fn start(upstream: SocketAddr) -> Edge {
        let files = |dir: &Path| {
            let (cert, key) = ca().ca.server();
            std::fs::write(dir.join("server.pem"), cert).unwrap();
            std::fs::write(dir.join("server.key"), key).unwrap();
        };
        Edge(Nginx::start(files, |dir, port| conf(dir, port, upstream)))
    }

    /// `wss://localhost:PORT`, a bare base as users write it.
    pub fn base(&self) -> String {
        format!("wss://localhost:{}", self.0.port)
    }
}

impl std::ops::Deref for Edge {
    type Target = Nginx;
    fn deref(&self) -> &Nginx {
        &self.0
    }
}

impl std::ops::DerefMut for Edge {
    fn deref_mut(&mut self) -> &mut Nginx {
        &mut self.0
    }
}

/// As in docs/deploy.md: one origin over TLS.
fn conf(dir: &Path, port: u16, upstream: SocketAddr) -> String {
    let d = dir.display();
    let location = proxy_location(&format!("http://{upstream}"), "            proxy_set_header X-Forwarded-Proto https;\n");
    http_conf(
        dir,
        &format!(
            r#"    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        client_max_body_size 25m;
{location}    }}
"#
        ),
    )
}
