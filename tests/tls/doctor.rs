//! Through the real edge: `doctor` checks the specs' public URLs with the CLI's own trust
//! (`SSL_CERT_FILE`), names the certificate when the CA is not trusted, and the observer
//! socket admits the dashboard's own origin as the edge forwards it (nginx's `$host` has no
//! port) while refusing a foreign one.

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::*;
use crate::edge::{Edge, ca};

/// `doctor --json`'s checks of the public URLs, with `ssl_cert_file` as the only extra trust.
async fn public_checks(spec: &std::path::Path, ssl_cert_file: Option<&std::path::Path>) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    cmd.args(["doctor", "--json", "--spec"]).arg(spec).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    if let Some(f) = ssl_cert_file {
        cmd.env("SSL_CERT_FILE", f);
    }
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).output().await.unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    report["checks"].as_array().unwrap().iter().filter(|c| c["check"].as_str().unwrap().starts_with("public ")).cloned().collect()
}

#[tokio::test]
async fn doctor_checks_public_urls_through_the_edge() {
    crate::trust_test_ca(); // for this process's observer sockets; doctor gets its own env
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("instances.toml");
    let closed = free_port();
    std::fs::write(
        &spec,
        format!(
            "[defaults]\nname_prefix = \"doctor-tls-test\"\n\
             [instances.stable]\ndashboard_port = 1\nws_port = 2\ndata_dir = \"d\"\nenv_file = \"e\"\n\
             public_url = \"https://localhost:{p}\"\npublic_ws_url = \"wss://localhost:{p}/ws/agent/\"\n\
             [instances.dev]\ndashboard_port = 3\nws_port = 4\ndata_dir = \"d\"\nenv_file = \"e\"\nupstream = \"stable\"\n\
             public_url = \"https://localhost:{closed}\"\npublic_ws_url = \"wss://localhost:{closed}/\"\n",
            p = edge.port
        ),
    )
    .unwrap();

    let checks = public_checks(&spec, Some(&ca().file)).await;
    let by = |name: &str| checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("{name} in {checks:?}")).clone();
    for name in ["public stable", "public stable agents"] {
        assert_eq!(by(name)["status"], "ok", "{checks:#?}");
    }
    assert!(by("public stable agents")["detail"].as_str().unwrap().contains("upgrades to a WebSocket"));
    for name in ["public dev", "public dev agents"] {
        let c = by(name);
        assert_eq!(c["status"], "fail");
        assert!(c["detail"].as_str().unwrap().starts_with(&format!("route: cannot reach localhost:{closed}")), "{c}");
    }
    eprintln!("{checks:#?}");

    // Without the test CA: the certificate is named, the route is not blamed.
    let checks = public_checks(&spec, None).await;
    let c = checks.iter().find(|c| c["check"] == "public stable").unwrap();
    assert_eq!(c["status"], "fail");
    assert!(c["detail"].as_str().unwrap().starts_with(&format!("certificate of localhost:{}: its certificate is signed by an unknown CA", edge.port)), "{c}");

    // The dashboard's own origin passes the observer check through the edge; a foreign one is 403.
    let observer = |origin: &str| {
        let mut req = format!("wss://localhost:{}/ws?token={ADMIN}", edge.port).into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        async move {
            let connector = tokio_tungstenite::Connector::Rustls(scitex_orochi::tls::client_config());
            match tokio_tungstenite::connect_async_tls_with_config(req, None, false, Some(connector)).await {
                Ok((_, r)) => r.status().as_u16(),
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(observer(&format!("https://localhost:{}", edge.port)).await, 101);
    assert_eq!(observer("https://evil.example.org").await, 403);
}

