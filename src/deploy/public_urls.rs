//! `doctor`'s public-URL checks: each instance's `public_url` (its `/healthz`) and
//! `public_ws_url` (a WebSocket upgrade), through TLS, when the host resolves here. A failure
//! says whether the certificate or the route is at fault.

use std::time::{Duration, Instant};

use tokio::net::lookup_host;
use url::Url;

use super::check::{Check, Status, check};
use super::spec::Spec;

/// Longest wait for a name lookup, a connection or an answer.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The RFC 6455 sample key: the probe only needs the edge to answer the upgrade.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[derive(Debug, Clone, Copy)]
enum Probe {
    /// The dashboard origin: `GET /healthz` answers 200.
    Dashboard,
    /// The agent socket: a WebSocket upgrade answers 101.
    AgentSocket,
}

/// One check per public URL of every instance, with `client` (the doctor passes
/// [`crate::http_client::client`], which trusts what the CLI trusts).
pub async fn check_all(spec: &Spec, client: &reqwest::Client) -> Vec<Check> {
    let mut out = Vec::new();
    for inst in spec.instances.values() {
        out.push(probe(client, &format!("public {}", inst.name), &inst.public_url, Probe::Dashboard).await);
        out.push(probe(client, &format!("public {} agents", inst.name), &inst.public_ws_url, Probe::AgentSocket).await);
    }
    out
}

async fn probe(client: &reqwest::Client, label: &str, raw: &str, what: Probe) -> Check {
    let Ok(mut url) = Url::parse(raw) else { return check(label, Status::Fail, format!("{raw} is not a URL")) };
    let (Some(host), Some(port)) = (url.host_str().map(str::to_string), url.port_or_known_default()) else {
        return check(label, Status::Fail, format!("{raw} names no host"));
    };
    let resolved = tokio::time::timeout(TIMEOUT, lookup_host((host.as_str(), port))).await;
    if !resolved.is_ok_and(|r| r.is_ok_and(|mut addrs| addrs.next().is_some())) {
        return check(label, Status::Skip, format!("{host} does not resolve here"));
    }
    let secure = matches!(url.scheme(), "https" | "wss");
    let _ = url.set_scheme(if secure { "https" } else { "http" });
    let request = match what {
        Probe::Dashboard => {
            url.set_path("/healthz");
            client.get(url.clone())
        }
        Probe::AgentSocket => client
            .get(url.clone())
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", WS_KEY),
    };
    let via = if secure { "TLS ok" } else { "plain HTTP, no TLS" };
    let t = Instant::now();
    match tokio::time::timeout(TIMEOUT, request.send()).await {
        Err(_) => check(label, Status::Fail, format!("route: {url} gave no answer within {} s", TIMEOUT.as_secs())),
        Ok(Err(e)) => failure(label, &host, port, &e),
        Ok(Ok(r)) => {
            let status = r.status();
            let ms = t.elapsed().as_millis();
            match what {
                Probe::Dashboard if status.is_success() => check(label, Status::Ok, format!("{url} answers ({via}, {ms} ms)")),
                Probe::Dashboard => check(label, Status::Fail, format!("route: {url} answered {status} ({via}); the edge does not reach the hub's HTTP port")),
                Probe::AgentSocket if status == reqwest::StatusCode::SWITCHING_PROTOCOLS => {
                    check(label, Status::Ok, format!("{url} upgrades to a WebSocket ({via}, {ms} ms)"))
                }
                Probe::AgentSocket => check(
                    label,
                    Status::Fail,
                    format!("route: {url} answered {status}, not a WebSocket upgrade ({via}); the edge does not forward Upgrade to an agent socket"),
                ),
            }
        }
    }
}

/// The certificate error inside a failed request, else the route that failed.
fn failure(label: &str, host: &str, port: u16, e: &reqwest::Error) -> Check {
    if let Some(tls) = crate::tls::TlsFailure::find(&format!("{host}:{port}"), e) {
        return check(label, Status::Fail, format!("certificate of {}: {}", tls.host, tls.reason));
    }
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = innermost.source() {
        innermost = next;
    }
    check(label, Status::Fail, format!("route: cannot reach {host}:{port}: {innermost}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hyper::service::service_fn;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    use super::*;

    struct TestCa {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    impl TestCa {
        fn new() -> TestCa {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
        }

        /// A client that trusts this CA only.
        fn client(&self) -> reqwest::Client {
            let ca = reqwest::Certificate::from_der(self.issuer.der()).unwrap();
            reqwest::Client::builder().tls_certs_only([ca]).timeout(TIMEOUT).build().unwrap()
        }

        /// An HTTPS server on 127.0.0.1 with a certificate for `name`: `/healthz` answers 200,
        /// `/ws/agent/` upgrades, anything else is 404 (a route the edge does not have).
        async fn serve(&self, name: &str) -> u16 {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, &self.issuer).unwrap();
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap())
                .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                            let status = match req.uri().path() {
                                "/healthz" => StatusCode::OK,
                                "/ws/agent/" if req.headers().contains_key("upgrade") => StatusCode::SWITCHING_PROTOCOLS,
                                _ => StatusCode::NOT_FOUND,
                            };
                            let mut r = Response::builder().status(status);
                            if status == StatusCode::SWITCHING_PROTOCOLS {
                                r = r.header("Upgrade", "websocket").header("Connection", "Upgrade");
                            }
                            Ok::<_, std::convert::Infallible>(r.body(String::new()).unwrap())
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).with_upgrades().await;
                    });
                }
            });
            port
        }
    }

    fn spec(url: &str, ws_url: &str) -> Spec {
        let text = format!(
            "[instances.stable]\ndashboard_port = 1\nws_port = 2\ndata_dir = \"d\"\npublic_url = \"{url}\"\npublic_ws_url = \"{ws_url}\"\nenv_file = \"e\"\n"
        );
        Spec::parse(std::path::Path::new("/tmp/instances.toml"), &text).unwrap()
    }

    fn refused_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_trusted_edge_passes_both_urls() {
        let ca = TestCa::new();
        let port = ca.serve("localhost").await;
        let checks = check_all(&spec(&format!("https://localhost:{port}"), &format!("wss://localhost:{port}/ws/agent/")), &ca.client()).await;
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:#?}");
        assert!(checks[0].detail.contains("TLS ok") && checks[1].detail.contains("upgrades to a WebSocket"), "{checks:#?}");
    }

    #[tokio::test]
    async fn certificate_failures_are_named() {
        let ca = TestCa::new();
        // The project's client does not trust a private CA it was not told about.
        let port = ca.serve("localhost").await;
        let checks = check_all(&spec(&format!("https://localhost:{port}"), &format!("wss://localhost:{port}/ws/agent/")), &crate::http_client::client(TIMEOUT)).await;
        for c in &checks {
            assert_eq!(c.status, Status::Fail, "{c:?}");
            assert!(c.detail.starts_with(&format!("certificate of localhost:{port}: its certificate is signed by an unknown CA")), "{c:?}");
        }
        // A certificate for another name.
        let port = ca.serve("other.example").await;
        let checks = check_all(&spec(&format!("https://localhost:{port}"), &format!("wss://localhost:{port}/")), &ca.client()).await;
        assert!(checks.iter().all(|c| c.status == Status::Fail && c.detail.contains("does not name this host")), "{checks:#?}");
    }

    #[tokio::test]
    async fn route_failures_are_named() {
        let ca = TestCa::new();
        let port = ca.serve("localhost").await;
        // TLS is fine, but the agent URL is not a WebSocket route on this edge.
        let checks = check_all(&spec(&format!("https://localhost:{port}"), &format!("wss://localhost:{port}/elsewhere")), &ca.client()).await;
        assert_eq!(checks[0].status, Status::Ok, "{checks:#?}");
        assert_eq!(checks[1].status, Status::Fail);
        assert!(checks[1].detail.starts_with("route: ") && checks[1].detail.contains("404"), "{checks:#?}");
        // Nothing listens: refused.
        let closed = refused_port();
        let checks = check_all(&spec(&format!("https://localhost:{closed}"), &format!("wss://localhost:{closed}/")), &ca.client()).await;
        for c in &checks {
            assert_eq!(c.status, Status::Fail, "{c:?}");
            assert!(c.detail.starts_with(&format!("route: cannot reach localhost:{closed}")), "{c:?}");
        }
    }
}
