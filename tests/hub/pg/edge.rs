//! Two hub processes on one PostgreSQL behind an nginx edge (docs/scale-out.md): `kill -9` of
//! the replica an agent is connected to loses no acked message, and the agent, reconnecting
//! through the edge to the other replica, resumes by `seq` without a gap or a repeat.

use std::time::Duration;

use scitex_orochi::client::{ClientOptions, OrochiClient};
use serde_json::{Value, json};

use super::hub::spawn_hub;
use super::server;
use crate::common::*;
use crate::nginx::{Nginx, http_conf, proxy_location};

/// The edge of docs/scale-out.md over the replicas' agent ports.
fn edge(ws_ports: &[u16]) -> Nginx {
    let servers: String = ws_ports.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=0;\n")).collect();
    Nginx::start(
        |_| {},
        |dir, port| {
            let location = proxy_location("http://orochi_replicas", "");
            http_conf(dir, &format!("    upstream orochi_replicas {{\n{servers}    }}\n    server {{\n        listen 127.0.0.1:{port};\n{location}    }}\n"))
        },
    )
}

async fn hosts(base: &str, name: &str) -> bool {
    let Ok(r) = reqwest::Client::new().get(format!("{base}/api/agents")).bearer_auth(ADMIN).send().await else { return false };
    let agents: Value = r.json().await.unwrap_or_default();
    agents.as_array().is_some_and(|a| a.iter().any(|a| a["name"] == name))
}

/// The index of the replica `name` is registered on.
async fn host_of(bases: &[String], name: &str) -> usize {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for (i, b) in bases.iter().enumerate() {
            if hosts(b, name).await {
                return i;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{name} registered on no replica");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn post(base: &str, i: usize) -> u64 {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"payload": {"channel": "#k", "content": format!("m{i}")}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["seq"].as_u64().unwrap_or_else(|| panic!("a seq in the answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_replica_loses_nothing_and_its_agent_resumes_on_the_other_through_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let url = server::shared().fresh_db().await;
    let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
    let mut children: Vec<_> = ports.iter().map(|(ws, http)| spawn_hub(&url, dir.path(), *ws, *http)).collect();
    let bases: Vec<String> = ports.iter().map(|(_, http)| format!("http://127.0.0.1:{http}")).collect();
    for b in &bases {
        wait_healthy(b).await;
    }
    let nginx = edge(&ports.iter().map(|(ws, _)| *ws).collect::<Vec<_>>());
    let mut o = ClientOptions::new(format!("ws://127.0.0.1:{}/", nginx.port), ADMIN, "listener");
    o.channels = vec!["#k".into()];
    let listener = OrochiClient::connect(o).await.unwrap();
    let doomed = host_of(&bases, "listener").await;
    let survivor = &bases[1 - doomed];

    let mut acked = Vec::new();
    for i in 0..60 {
        if i == 20 {
            children[doomed].start_kill().unwrap();
            children[doomed].wait().await.unwrap();
        }
        acked.push(post(survivor, i).await);
    }
    assert_eq!(acked, (1..=60).collect::<Vec<u64>>(), "one replica numbers on alone");

    let mut heard = Vec::new();
    while heard.len() < acked.len() {
        let f = tokio::time::timeout(Duration::from_secs(20), listener.recv()).await.expect("the listener resumes").expect("client open");
        if f.kind == "message" && f.payload["channel"] == "#k" {
            heard.push(f.seq.expect("a seq"));
        }
    }
    assert_eq!(heard, acked, "every acked message once, in seq order, across the replica's death");
    assert!(hosts(survivor, "listener").await, "the listener is on the surviving replica now");
    drop(nginx);
}
