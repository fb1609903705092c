//! The permission relay end to end: the bridge as a child process driven like Claude Code
//! (`notifications/claude/channel/permission_request` in, `notifications/claude/channel/permission`
//! out), answered over the hub's REST API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const REQUEST: &str = "notifications/claude/channel/permission_request";
const VERDICT: &str = "notifications/claude/channel/permission";
/// How long a refused answer is given to (wrongly) reach the client.
const QUIET: Duration = Duration::from_millis(400);

async fn prompt(mcp: &mut Mcp, request_id: &str) {
    mcp.notify(REQUEST, json!({"request_id": request_id, "tool_name": "Bash", "description": "Run the tests",
        "input_preview": "{\"command\":\"cargo test\"}"}))
        .await;
}

/// The hub's pending request for (agent, Claude's request_id), once it is there.
async fn pending(hub: &Hub, agent: &str, request_id: &str) -> Value {
    for _ in 0..200 {
        let list = hub.get("/api/permissions").await;
        if let Some(r) = list.as_array().unwrap().iter().find(|r| r["agent"] == agent && r["request_id"] == request_id) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no pending request {request_id} of {agent}");
}

async fn answer(hub: &Hub, id: &str, behavior: &str, token: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(hub.http(&format!("/api/permissions/{id}"))).bearer_auth(token).json(&json!({"behavior": behavior})).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn verdict(mcp: &mut Mcp) -> Value {
    mcp.notification_of(VERDICT, WAIT).await.expect("a permission verdict reaches the client")
}

/// A workspace's plain token and an approver token for `person` in it.
async fn workspace(hub: &Hub, name: &str, person: &str) -> (String, String) {
    let http = reqwest::Client::new();
    let w: Value = http.post(hub.http("/api/workspaces")).bearer_auth(ADMIN).json(&json!({"name": name})).send().await.unwrap().json().await.unwrap();
    let url = hub.http(&format!("/api/workspaces/{}/tokens", w["id"].as_str().unwrap()));
    let t: Value = http.post(url).bearer_auth(ADMIN).json(&json!({"role": "approver", "person": person})).send().await.unwrap().json().await.unwrap();
    (w["token"].as_str().unwrap().to_string(), t["token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn the_capability_is_declared_and_can_be_turned_off() {
    let hub = Hub::start().await;
    let (_, init) = Mcp::start(&hub, "on", &[]).await;
    assert_eq!(init["capabilities"]["experimental"]["claude/channel/permission"], json!({}), "{init}");
    assert_eq!(init["capabilities"]["experimental"]["claude/channel"], json!({}));
    let (mut off, init) = Mcp::start(&hub, "off", &[("SCITEX_OROCHI_MCP_PERMISSION_RELAY", "off")]).await;
    assert!(init["capabilities"]["experimental"].get("claude/channel/permission").is_none(), "{init}");
    off.wait_connected().await;
    prompt(&mut off, "abcde").await;
    assert!(off.notification_of(VERDICT, QUIET).await.is_none());
    assert_eq!(hub.get("/api/permissions").await, json!([]), "nothing relayed when off");
}

#[tokio::test]
async fn requests_are_relayed_and_only_valid_answers_reach_the_client() {
    let hub = Hub::start().await;
    let (plain, alice) = workspace(&hub, "lab", "alice").await;
    let (mut mcp, _) = Mcp::start(&hub, "worker", &[("SCITEX_OROCHI_TOKEN", &plain)]).await;
    mcp.wait_connected().await;

    prompt(&mut mcp, "abcde").await;
    let r = pending(&hub, "worker", "abcde").await;
    assert_eq!((r["tool_name"].as_str(), r["description"].as_str()), (Some("Bash"), Some("Run the tests")));
    assert_eq!(r["input_preview"], "{\"command\":\"cargo test\"}");
    let first = r["id"].as_str().unwrap().to_string();
    assert_eq!(answer(&hub, &first, "allow", ADMIN).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut mcp).await, json!({"request_id": "abcde", "behavior": "allow"}));

    prompt(&mut mcp, "fghij").await;
    let second = pending(&hub, "worker", "fghij").await["id"].as_str().unwrap().to_string();
    assert_eq!(answer(&hub, &second, "deny", ADMIN).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut mcp).await, json!({"request_id": "fghij", "behavior": "deny"}));

    // Refused: the plain workspace token (the asking agent's own), an unknown id, a second
    // answer; none reaches the client.
    prompt(&mut mcp, "klmno").await;
    let third = pending(&hub, "worker", "klmno").await["id"].as_str().unwrap().to_string();
    let (s, e) = answer(&hub, &third, "allow", &plain).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("approver token"), "{e}");
    let (s, e) = answer(&hub, "zzzzzz", "allow", ADMIN).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("no permission request zzzzzz")));
    let (s, e) = answer(&hub, &first, "deny", ADMIN).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(mcp.notification_of(VERDICT, QUIET).await.is_none(), "a refused answer reaches no client");

    // The approver's answer: accepted and audited with the person's name.
    let (s, done) = answer(&hub, &third, "allow", &alice).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(verdict(&mut mcp).await, json!({"request_id": "klmno", "behavior": "allow"}));
    let all = hub.get("/api/permissions?all&agent=worker").await;
    let audited = all.as_array().unwrap().iter().find(|r| r["id"] == third.as_str()).unwrap();
    assert_eq!((audited["answered_by"].as_str(), audited["status"].as_str()), (Some("alice"), Some("allowed")));
    assert_eq!(audited["answered_from"], "127.0.0.1");
    assert!(audited["answered_at"].as_str().is_some());
    assert!(mcp.notification_of(VERDICT, QUIET).await.is_none(), "each verdict exactly once");
}

#[tokio::test]
async fn malformed_prompts_are_ignored_and_the_bridge_keeps_working() {
    let hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "worker", &[]).await;
    mcp.wait_connected().await;
    mcp.notify(REQUEST, json!({"request_id": 5, "tool_name": "Bash"})).await;
    mcp.notify(REQUEST, json!({"request_id": "nopre"})).await;
    mcp.notify(REQUEST, Value::Null).await;
    mcp.notify(REQUEST, json!({"request_id": "bad id!", "tool_name": "Bash"})).await;
    mcp.notify("notifications/claude/unknown", json!({"x": 1})).await;
    prompt(&mut mcp, "valid").await;
    pending(&hub, "worker", "valid").await;
    let all = hub.get("/api/permissions?all").await;
    assert_eq!(all.as_array().unwrap().len(), 1, "only the well-formed prompt reached the hub: {all}");
    mcp.wait_connected().await;
}

#[tokio::test]
async fn an_expired_request_cannot_be_answered() {
    let hub = Hub::start_with(|c| c.permission_expiry_secs = 1).await;
    let (mut mcp, _) = Mcp::start(&hub, "worker", &[]).await;
    mcp.wait_connected().await;
    prompt(&mut mcp, "abcde").await;
    let id = pending(&hub, "worker", "abcde").await["id"].as_str().unwrap().to_string();
    let mut status = Value::Null;
    for _ in 0..200 {
        let all = hub.get("/api/permissions?all").await;
        status = all[0]["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(status, "expired");
    let (s, e) = answer(&hub, &id, "allow", ADMIN).await;
    assert_eq!(s, StatusCode::GONE, "{e}");
    assert!(mcp.notification_of(VERDICT, QUIET).await.is_none(), "nothing reaches the client");
}

#[tokio::test]
async fn two_agents_with_the_same_request_id_are_answered_separately() {
    let hub = Hub::start().await;
    let (mut a, _) = Mcp::start(&hub, "agent-a", &[]).await;
    let (mut b, _) = Mcp::start(&hub, "agent-b", &[]).await;
    a.wait_connected().await;
    b.wait_connected().await;
    prompt(&mut a, "qwert").await;
    prompt(&mut b, "qwert").await;
    let ia = pending(&hub, "agent-a", "qwert").await["id"].as_str().unwrap().to_string();
    let ib = pending(&hub, "agent-b", "qwert").await["id"].as_str().unwrap().to_string();
    assert_ne!(ia, ib);
    assert_eq!(answer(&hub, &ib, "deny", ADMIN).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut b).await, json!({"request_id": "qwert", "behavior": "deny"}));
    assert!(a.notification_of(VERDICT, QUIET).await.is_none(), "b's verdict is not a's");
    assert_eq!(answer(&hub, &ia, "allow", ADMIN).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut a).await, json!({"request_id": "qwert", "behavior": "allow"}));
}

#[tokio::test]
async fn a_pending_request_survives_a_hub_restart_and_its_verdict_reaches_the_new_socket() {
    let mut hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "worker", &[]).await;
    mcp.wait_connected().await;
    prompt(&mut mcp, "abcde").await;
    let id = pending(&hub, "worker", "abcde").await["id"].as_str().unwrap().to_string();
    hub.restart().await;
    let status = mcp.wait_connected().await;
    assert!(status["reconnects"].as_u64().unwrap() >= 1, "{status}");
    // The re-announce names the same request; answered, it reaches the bridge's new socket.
    let again = pending(&hub, "worker", "abcde").await;
    assert_eq!(again["id"], id.as_str());
    let mut answered = StatusCode::NOT_FOUND;
    for _ in 0..200 {
        // The bridge registers before it re-announces; the verdict needs the new socket.
        if hub.get("/api/agents").await.as_array().unwrap().iter().any(|a| a["name"] == "worker") {
            answered = answer(&hub, &id, "allow", ADMIN).await.0;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(answered, StatusCode::OK);
    assert_eq!(verdict(&mut mcp).await, json!({"request_id": "abcde", "behavior": "allow"}));
}
