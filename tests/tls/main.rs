//! Through a real TLS edge (nginx with a private CA, see edge.rs): the CLI, `OrochiClient` with
//! resume across an edge restart, the MCP bridge (bridge.rs), the URL convention (`wss://host:port` base with
//! `/ws/agent/` appended, REST on the same origin), `?token=&agent=` on `/ws/agent/`, a wrong CA
//! as a clear exit-3 error, an `HTTPS_PROXY` tunnel for both the socket and REST, and the
//! TypeScript bridge's own frames and REST calls (ts_bridge.rs).

#[path = "../hub/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../mcp/harness.rs"]
#[allow(dead_code)]
mod mcp_harness;
mod bridge;
mod doctor;
mod edge;
#[path = "../support/nginx.rs"]
mod nginx;
mod proxy;
mod ts_bridge;

use std::process::{Output, Stdio};
use std::time::Duration;

use scitex_orochi::client::dial;
use scitex_orochi::{ClientOptions, Config, OrochiClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use common::*;
use edge::{Ca, Edge, ca};

/// The built binary with a clean environment: the hub at `base`, trusting `ca_file`.
fn cli(base: &str, ca_file: &std::path::Path, agent: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCITEX_OROCHI_URL", base)
        .env("SSL_CERT_FILE", ca_file)
        .env("SCITEX_OROCHI_TOKEN", ADMIN)
        .env("SCITEX_OROCHI_AGENT", agent)
        .env("SCITEX_OROCHI_LOG", "warn")
        .kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command) -> Output {
    let o = tokio::time::timeout(Duration::from_secs(30), cmd.output()).await.expect("the command ends").unwrap();
    for stream in [&o.stdout, &o.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(ADMIN), "token leaked");
    }
    o
}

fn json_out(o: &Output) -> Value {
    assert!(o.status.success(), "exit {:?}: {}", o.status.code(), String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

/// Makes this process's clients trust the test CA; before any client builds its TLS config.
fn trust_test_ca() {
    // SAFETY: set before the first connection of this test process; nextest runs each test
    // in its own process.
    unsafe { std::env::set_var("SSL_CERT_FILE", &ca().file) };
}

fn hub_url(base: &str) -> String {
    let mut c = Config::defaults();
    c.url = base.to_string();
    c.hub_url()
}

#[tokio::test]
async fn cli_commands_work_through_the_edge() {
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    let ca_file = &ca().file;
    // The bare base works, as users write it; so does localhost's address.
    for base in [edge.base(), format!("wss://127.0.0.1:{}", edge.port)] {
        let mut login = cli(&base, ca_file, "tls-listener", &["login", "--channels", "#general", "--json"]);
        let mut login = login.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
        let mut listed = Value::Null;
        for _ in 0..100 {
            listed = json_out(&run(cli(&base, ca_file, "tls-cli", &["list-agents", "--json"])).await);
            if listed.as_array().is_some_and(|a| a.iter().any(|x| x["name"] == "tls-listener")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(listed.as_array().unwrap().iter().any(|x| x["name"] == "tls-listener"), "login registered through the edge: {listed}");
        let text = format!("over TLS via {base}");
        let sent = json_out(&run(cli(&base, ca_file, "tls-cli", &["send", "#general", &text, "--json"])).await);
        assert_eq!(sent["status"], "sent");
        let line = tokio::time::timeout(WAIT, lines.next_line()).await.expect("login prints the message").unwrap().unwrap();
        let got: Value = serde_json::from_str(&line).unwrap();
        assert_eq!((got["sender"].as_str(), got["content"].as_str()), (Some("tls-cli"), Some(text.as_str())));
        let history = json_out(&run(cli(&base, ca_file, "tls-cli", &["show-history", "general", "--limit", "1", "--json"])).await);
        assert_eq!(history[0]["content"], text.as_str());
        login.kill().await.unwrap();
    }
}

#[tokio::test]
async fn a_wrong_ca_is_a_clear_error_and_exit_3() {
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    let other = tempfile::tempdir().unwrap();
    let other_file = other.path().join("other-ca.pem");
    std::fs::write(&other_file, Ca::new("some other CA").pem).unwrap();
    for args in [&["send", "#general", "hi"][..], &["list-agents"], &["show-history", "general"]] {
        let o = run(cli(&edge.base(), &other_file, "tls-cli", args)).await;
        let err = String::from_utf8_lossy(&o.stderr);
        println!("{args:?}: exit {:?}: {}", o.status.code(), err.trim());
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("TLS with localhost failed") && err.contains("unknown CA"), "{args:?}: {err}");
    }
    // Nothing got through.
    let agents: Value = reqwest::get(h.http("/api/agents/registry?token=test-admin-token")).await.unwrap().json().await.unwrap();
    assert_eq!(agents, json!([]));
}

#[tokio::test]
async fn the_client_resumes_after_the_edge_restarts() {
    trust_test_ca();
    let h = start_hub().await;
    let mut edge = Edge::start(h.hub.http_addr);
    let mut o = ClientOptions::new(hub_url(&edge.base()), ADMIN, "resumer");
    o.channels = vec!["#general".into()];
    let client = OrochiClient::connect(o).await.expect("connects through the edge");
    let mut writer = h.agent("writer", &["#general"]).await;
    let next = async || loop {
        let f = tokio::time::timeout(Duration::from_secs(20), client.recv()).await.expect("a message within 20 s").expect("client open");
        if f.kind == "message" {
            return f.content().to_string();
        }
    };
    writer.say("writer", "#general", "before").await;
    assert_eq!(next().await, "before");
    edge.stop();
    for text in ["while the edge was down 1", "while the edge was down 2"] {
        writer.say("writer", "#general", text).await;
    }
    edge.start_again();
    let back = std::time::Instant::now();
    let first = next().await;
    println!("first resumed message {} ms after the edge listened again", back.elapsed().as_millis());
    writer.say("writer", "#general", "after").await;
    let got = vec![first, next().await, next().await];
    assert_eq!(got, ["while the edge was down 1", "while the edge was down 2", "after"]);
    assert!(client.is_connected());
    assert_eq!(client.status().reconnects, 1, "the edge restart cut the socket once");
    let receipt = client.send("#general", "back through TLS", None).await.expect("sends after the restart");
    println!("resumed; own message stored at seq {}", receipt.seq);
}

#[tokio::test]
async fn the_agent_path_takes_token_and_agent_from_the_query() {
    trust_test_ca();
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    // As the TypeScript bridge builds it: the token and the agent name in the query.
    for path in ["/ws/agent/", "/ws/agent"] {
        let name = format!("ts-bridge{}", path.len());
        let url = format!("{}{path}?token={ADMIN}&agent={name}", edge.base());
        let (ws, _) = dial::connect(url.as_str().into_client_request().unwrap(), None).await.expect("upgrades through the edge");
        let mut p = Peer { ws };
        p.send(json!({"type": "register", "id": "r1", "payload": {"channels": ["#general"], "machine": "tls-test"}})).await;
        p.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "r1").await;
        p.send(json!({"type": "message", "id": "m1", "payload": {"channel": "#general", "content": "no sender given"}})).await;
        p.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "m1").await;
        let rows: Value = reqwest::get(h.http(&format!("/api/messages?channel=%23general&limit=1&token={ADMIN}"))).await.unwrap().json().await.unwrap();
        assert_eq!(rows[0]["sender"], name.as_str(), "{rows}");
    }
    // A name no sender may have is refused at the upgrade.
    let url = format!("{}/ws/agent/?token={ADMIN}&agent=two%20words", edge.base());
    let err = dial::connect(url.as_str().into_client_request().unwrap(), None).await.expect_err("refused");
    assert!(err.to_string().contains("400"), "{err}");
    // A wrong token on the agent path is the agent protocol's refusal.
    let url = format!("{}/ws/agent/?token=wrong", edge.base());
    let (ws, _) = dial::connect(url.as_str().into_client_request().unwrap(), None).await.unwrap();
    let mut p = Peer { ws };
    p.send(json!({"type": "heartbeat", "sender": "x", "payload": {}})).await;
    assert_eq!(p.recv().await["payload"]["code"], "AUTH_FAILED");
}

#[tokio::test]
async fn socket_and_rest_tunnel_through_an_https_proxy() {
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    let proxy = proxy::Connect::start().await;
    let with_proxy = |agent: &str, args: &[&str], no_proxy: &str| {
        let mut c = cli(&edge.base(), &ca().file, agent, args);
        c.env("HTTPS_PROXY", format!("http://orochi:pa%20ss@127.0.0.1:{}", proxy.port)).env("NO_PROXY", no_proxy);
        c
    };
    let target = format!("localhost:{}", edge.port);
    let sent = json_out(&run(with_proxy("proxied", &["send", "#general", "through the proxy", "--json"], "")).await);
    assert_eq!(sent["status"], "sent");
    json_out(&run(with_proxy("proxied", &["list-agents", "--json"], "")).await);
    let seen = proxy.targets();
    println!("CONNECT targets: {seen:?}");
    assert_eq!(seen, [target.clone(), target.clone()], "one tunnel for the socket, one for REST");
    // "orochi:pa ss", the URL's user info decoded.
    assert_eq!(proxy.auths(), ["Basic b3JvY2hpOnBhIHNz", "Basic b3JvY2hpOnBhIHNz"]);
    // NO_PROXY names the host: straight there.
    json_out(&run(with_proxy("direct", &["send", "#general", "not proxied", "--json"], "example.org,localhost")).await);
    assert_eq!(proxy.targets().len(), 2);
}
