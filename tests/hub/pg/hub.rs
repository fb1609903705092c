//! Hubs on a real PostgreSQL 15: acked messages survive `kill -9`, two hub processes on one
//! database number one channel without a gap, clients resume by `seq` and resend once, and
//! workspaces work as on SQLite.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use scitex_orochi::config::DbLocation;
use serde_json::json;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

use super::server;
use crate::common::*;

/// A hub process on the database at `url`, with its media in `dir`.
pub fn spawn_hub(url: &str, dir: &std::path::Path, ws: u16, http: u16) -> Child {
    hub_command(url, dir, ws, http).spawn().expect("hub binary starts")
}

/// The command [`spawn_hub`] runs, for a test that adds to its environment.
pub fn hub_command(url: &str, dir: &std::path::Path, ws: u16, http: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    c.arg("serve")
        .env("SCITEX_OROCHI_PORT", ws.to_string())
        .env("SCITEX_OROCHI_DASHBOARD_PORT", http.to_string())
        .env("SCITEX_OROCHI_DB", url)
        .env("SCITEX_OROCHI_MEDIA_ROOT", dir.join("media"))
        .env("SCITEX_OROCHI_ADMIN_TOKEN", ADMIN)
        .env("SCITEX_OROCHI_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    c
}

/// An in-process hub on a fresh database of the shared server.
pub async fn pg_hub() -> TestHub {
    let url = server::shared().fresh_db().await;
    start_hub_with(|c| c.db = DbLocation::parse(&url).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acked_message_survives_kill_9_with_gapless_seq() {
    let dir = tempfile::tempdir().unwrap();
    let url = server::shared().fresh_db().await;
    let (ws, http) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http}");
    let mut hub = spawn_hub(&url, dir.path(), ws, http);
    wait_healthy(&base).await;
    let mut peer = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    peer.register("writer", &[]).await;
    let (mut sink, mut stream) = peer.ws.split();
    let sender = tokio::spawn(async move {
        for i in 0..100_000u32 {
            let f = json!({"type": "message", "id": format!("m{i}"), "payload": {"channel": "#durable", "content": format!("{i}")}});
            if sink.send(Message::text(f.to_string())).await.is_err() {
                return;
            }
        }
    });
    let mut acked: HashMap<String, u64> = HashMap::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        let Message::Text(t) = msg else { continue };
        let f: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        if f["type"] == "ack" {
            acked.insert(f["payload"]["msg_id"].as_str().unwrap().into(), f["payload"]["seq"].as_u64().unwrap());
            if acked.len() == 300 {
                hub.start_kill().unwrap();
            }
        }
    }
    hub.wait().await.unwrap();
    sender.await.unwrap();
    assert!(acked.len() >= 300, "acks before the kill: {}", acked.len());

    let mut hub = spawn_hub(&url, dir.path(), ws, http);
    wait_healthy(&base).await;
    let rows = all_rows(&base, "#durable").await;
    let stored: HashMap<&str, u64> = rows.iter().map(|r| (r["msg_id"].as_str().unwrap(), r["seq"].as_u64().unwrap())).collect();
    for (id, seq) in &acked {
        assert_eq!(stored.get(id.as_str()), Some(seq), "acked message {id} lost or renumbered");
    }
    let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>(), "seq is gapless");
    let mut p = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    p.register("writer", &[]).await;
    let ack = p.say("writer", "#durable", "after restart").await;
    assert_eq!(ack["payload"]["seq"], rows.len() as u64 + 1, "the restarted hub continues the sequence");
    hub.start_kill().unwrap();
}

/// Replicas share one database: two hub processes writing one channel at once never hand out
/// the same `seq`, and leave none out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_database_keep_seq_unique_and_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let url = server::shared().fresh_db().await;
    let (ws1, http1, ws2, http2) = (free_port(), free_port(), free_port(), free_port());
    let (base1, base2) = (format!("http://127.0.0.1:{http1}"), format!("http://127.0.0.1:{http2}"));
    let mut a = spawn_hub(&url, dir.path(), ws1, http1);
    let mut b = spawn_hub(&url, dir.path(), ws2, http2);
    wait_healthy(&base1).await;
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
    let tasks: Vec<_> = (0..200).map(|i| tokio::spawn(post(if i % 2 == 0 { base1.clone() } else { base2.clone() }, i))).collect();
    for t in tasks {
        t.await.unwrap();
    }
    let seqs: Vec<u64> = all_rows(&base2, "#shared").await.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    a.start_kill().unwrap();
    b.start_kill().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_resume_by_seq_and_a_resend_is_stored_once() {
    let h = pg_hub().await;
    let mut writer = h.agent("writer", &["#r"]).await;
    for i in 0..5 {
        writer.send(json!({"type": "message", "sender": "writer", "id": format!("f{i}"), "payload": {"channel": "#r", "content": format!("{i}")}})).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        let f = writer.recv().await;
        if f["type"] == "ack" && f["payload"]["seq"].is_u64() {
            seqs.push(f["payload"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // The same frame id again (a resend after a lost ack): the first copy's place, no new row.
    writer.send(json!({"type": "message", "sender": "writer", "id": "f2", "payload": {"channel": "#r", "content": "2"}})).await;
    let again = writer.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "f2").await;
    assert_eq!(again["payload"]["seq"], 3);
    writer.send(json!({"type": "query", "id": "q", "payload": {"channel": "#r", "after_seq": 3}})).await;
    let reply = writer.recv_until(|f| f["type"] == "message" && f["payload"]["ref"] == "q").await;
    let rows = reply["payload"]["history"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect::<Vec<_>>(), [4, 5], "{reply}");
    assert_eq!(all_rows(&h.hub.http_url(), "#r").await.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_and_their_tokens_work_on_postgres() {
    let h = pg_hub().await;
    let token = h.workspace_token("lab").await;
    let mut member = h.raw(&token).await;
    member.register("lab-agent", &["#lab"]).await;
    let ack = member.say("lab-agent", "#lab", "hello").await;
    assert_eq!(ack["payload"]["seq"], 1, "{ack}");
    let mine: Vec<serde_json::Value> =
        reqwest::Client::new().get(h.http("/api/history/lab")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine.len(), 1);
    let other = h.workspace_token("other").await;
    let theirs: Vec<serde_json::Value> =
        reqwest::Client::new().get(h.http("/api/history/lab")).bearer_auth(&other).send().await.unwrap().json().await.unwrap();
    assert!(theirs.is_empty(), "another workspace reads nothing of it: {theirs:?}");
}

/// What a SQLite hub keeps in files beside its database lives in PostgreSQL: replicas generate
/// no admin token or push keys of their own, and nothing is written next to a "path" that is a URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_generated_admin_token_and_push_keys() {
    let url = server::shared().fresh_db().await;
    let start = || {
        start_hub_with(|c| {
            c.db = DbLocation::parse(&url).unwrap();
            c.admin_token = String::new();
            c.token = String::new();
        })
    };
    let (a, b) = (start().await, start().await);
    let admin = a.hub.state.admin_token.clone();
    assert_eq!(admin, b.hub.state.admin_token, "one generated admin token for both");
    assert!(admin.len() >= 32);
    let key = |h: &TestHub| {
        let url = h.http("/api/push/vapid-key");
        async move { reqwest::get(url).await.unwrap().json::<serde_json::Value>().await.unwrap()["public_key"].clone() }
    };
    let public = key(&a).await;
    assert!(public.as_str().is_some_and(|k| !k.is_empty()), "{public}");
    assert_eq!(public, key(&b).await, "one pair of push keys for both");
    assert!(!std::path::Path::new("postgres:").exists(), "nothing beside the URL taken as a path");
}
