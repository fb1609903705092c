//! `doctor` against a real hub, no Docker needed: the agent path (HTTP, auth, counts, the agent
//! socket under a probe name of its own), the database and the push keys `serve` created.

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

use crate::common::*;

/// `doctor --json` in an empty folder (no deploy/instances.toml above it), with `db` as the
/// hub's database and `agent` as the configured agent name.
pub(crate) async fn doctor(ports: (u16, u16), token: &str, db: &Path, agent: &str) -> (Output, Value) {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"))
        .args(["doctor", "--json"])
        .current_dir(cwd.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SCITEX_OROCHI_TOKEN", token)
        .env("SCITEX_OROCHI_AGENT", agent)
        .env("SCITEX_OROCHI_PORT", ports.0.to_string())
        .env("SCITEX_OROCHI_DASHBOARD_PORT", ports.1.to_string())
        .env("SCITEX_OROCHI_DB", db)
        .env("SCITEX_OROCHI_LOG", "warn")
        .output()
        .await
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

pub(crate) fn by<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

pub(crate) fn ports(h: &TestHub) -> (u16, u16) {
    (h.hub.ws_addr.port(), h.hub.http_addr.port())
}

#[tokio::test]
async fn doctor_checks_the_agent_path_without_replacing_the_agent() {
    let h = start_hub().await;
    let mut agent = h.agent("worker-1", &["#dev"]).await;
    let (out, report) = doctor(ports(&h), ADMIN, &h.dir.path().join("orochi.db"), "worker-1").await;

    for name in ["hub", "auth", "agents and channels", "agent socket", "database", "push keys", "env"] {
        assert_eq!(by(&report, name)["status"], "ok", "{name}: {report:#}");
    }
    let channels = reqwest::Client::new().get(h.http("/api/channels")).bearer_auth(ADMIN).send().await.unwrap();
    let channels = channels.json::<serde_json::Map<String, Value>>().await.unwrap().len();
    assert_eq!(by(&report, "agents and channels")["detail"], format!("1 agent(s) online, {channels} channel(s) visible to this token"));
    let socket = by(&report, "agent socket")["detail"].as_str().unwrap();
    assert!(socket.contains("registered as doctor-probe-") && socket.contains("presence round trip"), "{socket}");
    assert!(!socket.contains("worker-1"), "{socket}");
    // The keys serve created on first start, where it keeps them.
    let keys = by(&report, "push keys")["detail"].as_str().unwrap();
    assert!(keys.ends_with("vapid-keys.json"), "{keys}");
    // Docker is looked at only where an engine is; whichever it is, the report and exit code agree.
    assert_eq!(report["failed"] == 0, out.status.success(), "{report:#}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(ADMIN), "token in the report");

    // The live agent of the configured name was not replaced: its socket still gets acks.
    let ack = agent.say("worker-1", "#dev", "still here").await;
    assert_eq!(ack["type"], "ack", "{ack}");
}

#[tokio::test]
async fn doctor_names_a_refused_token_and_skips_the_socket() {
    let h = start_hub().await;
    let (out, report) = doctor(ports(&h), "not-the-token", &h.dir.path().join("orochi.db"), "worker-1").await;
    assert_eq!(by(&report, "hub")["status"], "ok");
    assert_eq!(by(&report, "auth")["status"], "fail");
    assert_eq!(by(&report, "agent socket")["status"], "skip");
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not-the-token"));
}

#[tokio::test]
async fn doctor_without_a_hub_fails_once_and_skips_what_depends_on_it() {
    let dir = tempfile::tempdir().unwrap();
    // A hub folder whose keys were never made: the push check says so instead of passing.
    let db = dir.path().join("orochi.db");
    std::fs::write(&db, b"").unwrap();
    let (out, report) = doctor((free_port(), free_port()), ADMIN, &db, "worker-1").await;
    assert_eq!(by(&report, "hub")["status"], "fail");
    for name in ["auth", "agents and channels", "agent socket"] {
        assert_eq!(by(&report, name)["status"], "skip", "{name}");
    }
    let keys = by(&report, "push keys");
    assert_eq!(keys["status"], "warn", "{keys}");
    assert!(keys["detail"].as_str().unwrap().contains("vapid-keys.json"), "{keys}");
    assert_eq!(out.status.code(), Some(1));
}
