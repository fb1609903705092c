//! `migrate-db`: a database made by a real hub on SQLite (messages, threads, reactions, todos,
//! workspaces) copied into PostgreSQL reads the same through the published Python client and
//! the REST API; new messages continue each channel's `seq` and new todos take new ids; a
//! dry run writes nothing and a non-empty target is refused.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::common::*;
use crate::pg::hub::spawn_hub;
use crate::pg::server;
use crate::python_compat::reference_python;

const CHANNELS: [&str; 3] = ["#general", "#ops", "#lab"];

async fn migrate_db(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scitex-orochi")).arg("migrate-db").args(args).output().await.expect("run migrate-db")
}

/// What a client reads back: the Python client's history, REST history, todos, reactions and
/// workspaces.
async fn reads(python: &Path, ws: u16, base: &str) -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(root.join("tests/py/history_reads.py"))
        .args(CHANNELS)
        .env_remove("SCITEX_OROCHI_URL")
        .env("SCITEX_OROCHI_HOST", "127.0.0.1")
        .env("SCITEX_OROCHI_PORT", ws.to_string())
        .env("SCITEX_OROCHI_TOKEN", ADMIN)
        .output()
        .await
        .expect("run the Python reader");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let python_rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rest = serde_json::Map::new();
    for ch in CHANNELS {
        rest.insert(ch.into(), Value::Array(all_rows(base, ch).await));
    }
    let get = |path: &str| {
        let url = format!("{base}{path}");
        async move { reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    json!({"python": python_rows, "rest": rest, "todos": get("/api/todos").await, "reactions": get("/api/reactions").await,
        "workspaces": get("/api/workspaces").await})
}

async fn post(base: &str, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new().post(format!("{base}{path}")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// Traffic through a real hub: messages on three channels, a thread, reactions, todos, a workspace.
async fn traffic(ws: u16, base: &str) {
    let mut alice = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    alice.register("alice", &CHANNELS).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let ack = alice.say("alice", CHANNELS[i % 3], &format!("message {i} for @bob")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
        ids.push(ack["payload"]["msg_id"].as_str().unwrap().to_string());
    }
    let reply = json!({"type": "message", "sender": "alice", "id": "r1",
        "payload": {"channel": "#general", "content": "a reply", "metadata": {"reply_to": ids[0]}}});
    alice.send(reply).await;
    alice.recv_until(|f| f["payload"]["ref"] == "r1").await;
    for (id, emoji) in ids.iter().take(3).zip(["👍", "🎉", "👀"]) {
        post(base, "/api/reactions", json!({"message_id": id, "emoji": emoji, "reactor": "carol"})).await;
    }
    for title in ["migrate the store", "check the heads"] {
        post(base, "/api/todos", json!({"title": title, "created_by": "alice"})).await;
    }
    create_workspace(base, "lab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_reads_the_same_on_postgresql_after_migrate_db() {
    let python = reference_python(Path::new(env!("CARGO_MANIFEST_DIR"))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orochi.db");
    let (ws, http) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http}");
    let mut hub = spawn_hub(db.to_str().unwrap(), dir.path(), ws, http);
    wait_healthy(&base).await;
    traffic(ws, &base).await;
    let before = reads(&python, ws, &base).await;
    // Stopped as an operator would before migrating (SIGTERM: the hub closes its database).
    let stop = Command::new("kill").args(["-TERM", &hub.id().unwrap().to_string()]).status().await.unwrap();
    assert!(stop.success());
    hub.wait().await.unwrap();

    let url = server::shared().fresh_db().await;
    let dry = migrate_db(&["--from", db.to_str().unwrap(), "--to", &url, "--dry-run", "--json"]).await;
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(plan["tables"]["messages"], 31, "{plan}");
    assert_eq!(plan["tables"]["todos"], 2, "{plan}");
    let (pg, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let tables: i64 = pg.query_one("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", &[]).await.unwrap().get(0);
    assert_eq!(tables, 0, "a dry run created tables");

    let run = migrate_db(&["--from", db.to_str().unwrap(), "--to", &url, "--yes", "--json"]).await;
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let copied: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!((copied["tables"]["messages"].as_u64(), copied["channels"].as_u64(), copied["verified"].as_bool()), (Some(31), Some(3), Some(true)));
    let again = migrate_db(&["--from", db.to_str().unwrap(), "--to", &url, "--yes"]).await;
    assert_eq!(again.status.code(), Some(3), "a non-empty target: {}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let (ws, http) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{http}");
    let _hub = spawn_hub(&url, dir.path(), ws, http);
    wait_healthy(&base).await;
    let after = reads(&python, ws, &base).await;
    assert_eq!(before, after);

    // The heads and id counters moved with the copy: new rows continue them.
    let mut bob = Peer::connect(&format!("ws://127.0.0.1:{ws}/?token={ADMIN}")).await;
    bob.register("bob", &["#general"]).await;
    let ack = bob.say("bob", "#general", "after the move").await;
    let last = before["rest"]["#general"].as_array().unwrap().last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(ack["payload"]["seq"].as_u64(), Some(last + 1), "{ack}");
    let todo = post(&base, "/api/todos", json!({"title": "a new one"})).await;
    let max_id = before["todos"].as_array().unwrap().iter().filter_map(|t| t["id"].as_i64()).max().unwrap();
    assert!(todo["id"].as_i64().unwrap() > max_id, "{todo} after {max_id}");
}
