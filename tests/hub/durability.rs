//! Durable acks: `kill -9` the hub process mid-stream; every acked message survives, and the
//! per-channel `seq` has no gap.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

fn spawn_hub(dir: &std::path::Path, ws: u16, http: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_scitex-orochi"))
        .arg("serve")
        .env("SCITEX_OROCHI_PORT", ws.to_string())
        .env("SCITEX_OROCHI_DASHBOARD_PORT", http.to_string())
        .env("SCITEX_OROCHI_DB", dir.join("orochi.db"))
        .env("SCITEX_OROCHI_MEDIA_ROOT", dir.join("media"))
        .env("SCITEX_OROCHI_ADMIN_TOKEN", ADMIN)
        .env("SCITEX_OROCHI_DB_SYNC", "full")
        .env("SCITEX_OROCHI_LOG", "warn")
        .stdout(Stdio::null())
        // Warnings and a failed start reach the test's captured output (shown when it fails).
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("hub binary starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_message_survives_kill_9_with_gapless_seq() {
    let dir = tempfile::tempdir().unwrap();
    acked_messages_survive_kill_9(|ws, http| spawn_hub(dir.path(), ws, http)).await;
}

/// The check for any store: `spawn(ws, http)` starts a hub process on the same data each time.
pub async fn acked_messages_survive_kill_9(spawn: impl Fn(u16, u16) -> Child) {
    let (ws, http) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http}");
    let mut hub = spawn(ws, http);
    wait_healthy(&base).await;

    let mut peer = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    peer.register("writer", &[]).await;
    // Pipeline sends from a task while this one reads acks, and kill the hub after 300 acks.
    let (mut sink, mut stream) = peer.ws.split();
    let sender = tokio::spawn(async move {
        use futures_util::SinkExt;
        for i in 0..100_000u32 {
            let f = json!({"type": "message", "id": format!("m{i}"), "payload": {"channel": "#durable", "content": format!("{i}")}});
            if sink.send(Message::text(f.to_string())).await.is_err() {
                return i;
            }
        }
        100_000
    });
    let mut acked: HashMap<String, u64> = HashMap::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        let Message::Text(t) = msg else { continue };
        let f: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        if f["type"] == "ack" {
            // Stored rows are named by the hub's msg_id, which the ack carries.
            acked.insert(f["payload"]["msg_id"].as_str().unwrap().into(), f["payload"]["seq"].as_u64().unwrap());
            if acked.len() == 300 {
                hub.start_kill().unwrap();
            }
        }
    }
    hub.wait().await.unwrap();
    let sent = sender.await.unwrap();
    assert!(acked.len() >= 300, "acks before the kill: {}", acked.len());

    let mut hub = spawn(ws, http);
    wait_healthy(&base).await;
    let rows = all_rows(&base, "#durable").await;
    let stored: HashMap<&str, u64> = rows.iter().map(|r| (r["msg_id"].as_str().unwrap(), r["seq"].as_u64().unwrap())).collect();
    for (id, seq) in &acked {
        assert_eq!(stored.get(id.as_str()), Some(seq), "acked message {id} lost or renumbered");
    }
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>(), "seq is gapless");
    eprintln!("sent {sent}, acked {}, stored {}", acked.len(), rows.len());
    // The restarted hub continues the sequence.
    let mut p = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    p.register("writer", &[]).await;
    let ack = p.say("writer", "#durable", "after restart").await;
    assert_eq!(ack["payload"]["seq"], rows.len() as u64 + 1);
    hub.start_kill().unwrap();
}

/// Stable and dev share one database file: two hub processes' writers must not hand out the
/// same `seq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_database_keep_seq_unique_and_gapless() {
    let dir = tempfile::tempdir().unwrap();
    two_hubs_number_one_channel(100, |ws, http| spawn_hub(dir.path(), ws, http)).await;
}

/// The check for any store: `n` posts spread over two hub processes that `spawn(ws, http)`
/// starts on one database get seqs 1..=n.
pub async fn two_hubs_number_one_channel(n: usize, spawn: impl Fn(u16, u16) -> Child) {
    let (ws1, http1, ws2, http2) = (free_port(), free_port(), free_port(), free_port());
    let (base1, base2) = (format!("http://127.0.0.1:{http1}"), format!("http://127.0.0.1:{http2}"));
    let mut a = spawn(ws1, http1);
    wait_healthy(&base1).await;
    let mut b = spawn(ws2, http2);
    wait_healthy(&base2).await;
    let post = |base: String, i: usize| async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/messages"))
            .bearer_auth(ADMIN)
            .json(&json!({"payload": {"channel": "#shared", "content": format!("{i}")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    };
    let mut tasks = Vec::new();
    for i in 0..n {
        let base = if i % 2 == 0 { base1.clone() } else { base2.clone() };
        tasks.push(tokio::spawn(post(base, i)));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let seqs: Vec<u64> = all_rows(&base1, "#shared").await.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<u64>>());
    a.start_kill().unwrap();
    b.start_kill().unwrap();
}
