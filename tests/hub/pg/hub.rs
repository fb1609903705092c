//! Hubs on a real PostgreSQL 15: acked messages survive `kill -9`, two hub processes on one
//! database number one channel without a gap, clients resume by `seq` and resend once, and
//! workspaces work as on SQLite.

use std::process::Stdio;

use scitex_orochi::config::DbLocation;
use serde_json::json;
use tokio::process::{Child, Command};

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
    crate::durability::acked_messages_survive_kill_9(|ws, http| spawn_hub(&url, dir.path(), ws, http)).await;
}

/// Replicas share one database: two hub processes writing one channel at once never hand out
/// the same `seq`, and leave none out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_on_one_database_keep_seq_unique_and_gapless() {
    let dir = tempfile::tempdir().unwrap();
    let url = server::shared().fresh_db().await;
    crate::durability::two_hubs_number_one_channel(200, |ws, http| spawn_hub(&url, dir.path(), ws, http)).await;
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
