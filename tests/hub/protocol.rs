//! Every agent-socket frame type against a real hub.

use std::time::Duration;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn message_reaches_subscribers_not_sender_with_seq_and_durable_ack() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &["#general"]).await;
    let mut b = h.agent("bob", &["#general"]).await;
    let mut c = h.agent("carol", &["#other"]).await;
    let ack = a.say("alice", "#general", "hello").await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["payload"]["status"], "ok");
    assert_eq!(ack["payload"]["seq"], 1);
    let got = b.recv_until(|f| f["type"] == "message").await;
    assert_eq!(got["sender"], "alice");
    assert_eq!(got["payload"]["content"], "hello");
    assert_eq!(got["seq"], 1);
    // The live frame is named by the hub's msg_id (from the ack), not the client's frame id.
    assert_eq!(got["id"], ack["payload"]["msg_id"]);
    assert_ne!(got["id"], ack["payload"]["ref"]);
    // Key order of the envelope is the reference's.
    let text = got.to_string();
    assert!(text.find("\"type\"") < text.find("\"sender\"") && text.find("\"payload\"") < text.find("\"id\""));
    a.expect_silence(Duration::from_millis(200)).await;
    c.expect_silence(Duration::from_millis(100)).await;
    let ack2 = a.say("alice", "#general", "again").await;
    assert_eq!(ack2["payload"]["seq"], 2, "per-channel seq is monotonic");
    let ack3 = c.say("carol", "#other", "first there").await;
    assert_eq!(ack3["payload"]["seq"], 1, "seq counts per channel");
}

#[tokio::test]
async fn mentions_reach_unsubscribed_agents_once_and_never_the_sender() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &["#dev"]).await;
    let mut b = h.agent("bob", &["#elsewhere"]).await;
    // Names are ASCII letters, digits, `_` and `-` (no look-alikes); mentions parse any name.
    let mut e = h.agent("agent_e", &[]).await;
    a.say("alice", "#dev", "@bob @bob @alice @agent_e @ghost look").await;
    let got = b.recv_until(|f| f["type"] == "message").await;
    assert_eq!(got["payload"]["channel"], "#dev");
    b.expect_silence(Duration::from_millis(200)).await;
    e.recv_until(|f| f["type"] == "message").await;
    a.expect_silence(Duration::from_millis(100)).await;
    let rows = h_history(&h, "dev").await;
    assert_eq!(rows[0]["mentions"], json!(["bob", "bob", "alice", "agent_e", "ghost"]));
    assert_eq!(rows[0]["sender_type"], "agent");
}

async fn h_history(h: &TestHub, ch: &str) -> Vec<serde_json::Value> {
    reqwest::Client::new()
        .get(h.http(&format!("/api/history/{ch}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn text_is_accepted_as_content() {
    let h = start_hub().await;
    let mut a = h.agent("ts-bridge", &["#general"]).await;
    a.send(json!({"type": "message", "id": "t1", "payload": {"channel": "#general", "text": "from typescript"}})).await;
    let ack = a.recv_until(|f| f["payload"]["ref"] == "t1").await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(h_history(&h, "general").await[0]["content"], "from typescript");
}

#[tokio::test]
async fn subscribe_unsubscribe_and_membership_persist() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &[]).await;
    let mut b = h.agent("bob", &[]).await;
    b.send(json!({"type": "subscribe", "id": "s1", "payload": {"channel": "#ops"}})).await;
    assert_eq!(b.recv_until(|f| f["payload"]["ref"] == "s1").await["type"], "ack");
    a.say("alice", "#ops", "one").await;
    assert_eq!(b.recv_until(|f| f["type"] == "message").await["payload"]["content"], "one");
    // Reconnect without channels: the subscription is remembered.
    // Whether or not the hub has seen this socket go, the next register takes the name.
    drop(b);
    let mut b = h.agent("bob", &[]).await;
    a.say("alice", "#ops", "two").await;
    assert_eq!(b.recv_until(|f| f["type"] == "message").await["payload"]["content"], "two");
    b.send(json!({"type": "unsubscribe", "id": "u1", "payload": {"channel": "#ops"}})).await;
    b.recv_until(|f| f["payload"]["ref"] == "u1").await;
    a.say("alice", "#ops", "three").await;
    b.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn query_history_orders_filters_and_resumes_after_seq() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &["#h"]).await;
    for i in 1..=5 {
        a.say("alice", "#h", &format!("m{i}")).await;
    }
    a.send(json!({"type": "query", "id": "q1", "payload": {"channel": "#h", "limit": 3}})).await;
    let reply = a.recv().await;
    assert_eq!(reply["type"], "message", "history replies keep the reference's type");
    assert_eq!(reply["payload"]["ref"], "q1");
    let rows = reply["payload"]["history"].as_array().unwrap();
    let contents: Vec<_> = rows.iter().map(|r| r["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["m5", "m4", "m3"], "newest first");
    for key in ["msg_id", "ts", "channel", "sender", "content", "mentions", "metadata", "sender_type", "attachments", "seq"] {
        assert!(rows[0].get(key).is_some(), "row has {key}");
    }
    let ack = a.recv().await;
    assert_eq!((ack["type"].as_str(), ack["payload"]["ref"].as_str()), (Some("ack"), Some("q1")), "ack after the reply");
    a.send(json!({"type": "query", "id": "q2", "payload": {"channel": "#h", "after_seq": 2}})).await;
    let rows = a.recv().await["payload"]["history"].clone();
    let seqs: Vec<u64> = rows.as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [3, 4, 5], "after_seq pages oldest first");
    let since = rows[1]["ts"].as_str().unwrap().to_string();
    a.recv().await;
    a.send(json!({"type": "query", "id": "q3", "payload": {"channel": "#h", "since": since}})).await;
    let n = a.recv().await["payload"]["history"].as_array().unwrap().len();
    assert!((2..=3).contains(&n), "since is inclusive: {n}");
}

#[tokio::test]
async fn a_query_sees_the_senders_own_pipelined_messages() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &[]).await;
    for i in 0..50 {
        a.send(json!({"type": "message", "payload": {"channel": "#rw", "content": format!("{i}")}})).await;
    }
    a.send(json!({"type": "query", "id": "q", "payload": {"channel": "#rw", "limit": 100}})).await;
    let reply = a.recv_until(|f| f["type"] == "message" && f["payload"]["ref"] == "q").await;
    assert_eq!(reply["payload"]["history"].as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn presence_heartbeat_and_status_update() {
    let h = start_hub().await;
    let mut obs = crate::common::Peer::connect(&format!("{}?token={ADMIN}", h.http("/ws").replace("http", "ws"))).await;
    let mut a = h.agent("alice", &["#general"]).await;
    let connected = obs.recv_until(|f| f["type"] == "presence_change").await;
    assert_eq!(connected["payload"]["event"], "connected");
    assert_eq!(connected["payload"]["agent"], "alice");
    a.send(json!({"type": "presence", "id": "p"})).await;
    let p = a.recv().await;
    assert_eq!(p["type"], "presence");
    assert_eq!(p["payload"]["agents"]["alice"], json!(["#general"]));
    assert_eq!(a.recv().await["type"], "ack");
    let long_task = "x".repeat(300);
    a.send(json!({"type": "heartbeat", "id": "hb", "payload": {"cpu_count": 8, "load_avg_1m": 1.5, "bogus": 1, "current_task": long_task}})).await;
    a.recv_until(|f| f["payload"]["ref"] == "hb").await;
    let res: serde_json::Value = reqwest::Client::new().get(h.http("/api/resources")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(res["alice"]["resources"], json!({"cpu_count": 8, "load_avg_1m": 1.5}));
    a.send(json!({"type": "status_update", "id": "su", "payload": {"status": "busy", "current_task": "refactor"}})).await;
    a.recv_until(|f| f["payload"]["ref"] == "su").await;
    let su = obs.recv_until(|f| f["type"] == "status_update").await;
    assert_eq!(su["sender"], "alice");
    assert_eq!(su["payload"]["status"], "busy");
    assert_eq!(su["payload"]["current_task"], "refactor");
    a.send(json!({"type": "status_update", "id": "su2", "payload": {"current_task": "y".repeat(300)}})).await;
    let su = obs.recv_until(|f| f["type"] == "status_update" && f["payload"]["current_task"] != "refactor").await;
    assert_eq!(su["payload"]["current_task"].as_str().unwrap().chars().count(), 200, "capped as in register and heartbeat");
    let agents: serde_json::Value = reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(agents[0]["status"], "busy");
    let keys = agents[0].as_object().unwrap();
    for k in REFERENCE_AGENT_KEYS {
        assert!(keys.contains_key(*k), "contains the 15 reference keys: {k} missing");
    }
    drop(a);
    let gone = obs.recv_until(|f| f["type"] == "presence_change").await;
    assert_eq!(gone["payload"], json!({"agent": "alice", "event": "disconnected"}));
}

#[tokio::test]
async fn unknown_types_error_frames_and_gitea() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &[]).await;
    a.send(json!({"type": "gitea", "id": "g", "payload": {"action": "list_repos"}})).await;
    let e = a.recv().await;
    assert_eq!((e["type"].as_str(), e["payload"]["code"].as_str()), (Some("error"), Some("UNKNOWN_TYPE")));
    assert_eq!(a.recv().await["type"], "ack", "unknown types are acked as in the reference");
    a.send(json!({"type": "error", "id": "e"})).await;
    assert_eq!(a.recv().await["payload"]["code"], "UNKNOWN_TYPE");
    a.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn same_name_replaces_the_old_socket_with_4000() {
    let h = start_hub().await;
    let mut old = h.agent("alice", &["#general"]).await;
    let mut new = h.agent("alice", &["#general"]).await;
    assert_eq!(old.closed_with().await, 4000);
    let mut b = h.agent("bob", &["#general"]).await;
    b.say("bob", "#general", "hi").await;
    assert_eq!(new.recv_until(|f| f["type"] == "message").await["payload"]["content"], "hi");
    // The old socket closing must not remove the new registration: once its session ended
    // (two agent sockets left), the name is still the new one's.
    let connections = &h.hub.state.metrics.agent_connections;
    eventually("down to two agent sockets", || async { connections.get() == 2 }).await;
    new.send(json!({"type": "presence", "id": "p"})).await;
    assert!(new.recv().await["payload"]["agents"].get("alice").is_some());
}

#[tokio::test]
async fn bad_token_gets_auth_failed_then_4001() {
    let h = start_hub().await;
    for token in ["", "wrong", "wks_0000000000000000000000000000dead"] {
        let mut p = h.raw(token).await;
        // Told after the first frame (or a second), as a reply to it.
        p.send(json!({"type": "register", "sender": "x", "id": "r", "payload": {}})).await;
        let e = p.recv().await;
        assert_eq!(e["payload"]["code"], "AUTH_FAILED");
        assert_eq!(e["sender"], "orochi-server");
        assert_eq!(p.closed_with().await, 4001);
    }
}

#[tokio::test]
async fn workspaces_scope_delivery() {
    let h = start_hub().await;
    let mut ws_token = Vec::new();
    for name in ["team-a", "team-b"] {
        ws_token.push(h.workspace_token(name).await);
    }
    let mut a1 = h.raw(&ws_token[0]).await;
    a1.register("a1", &["#shared"]).await;
    let mut a2 = h.raw(&ws_token[0]).await;
    a2.register("a2", &["#shared"]).await;
    let mut b1 = h.raw(&ws_token[1]).await;
    b1.register("b1", &["#shared"]).await;
    a1.say("a1", "#shared", "inside team a @b1").await;
    a2.recv_until(|f| f["type"] == "message").await;
    b1.expect_silence(Duration::from_millis(300)).await;
    b1.send(json!({"type": "presence", "id": "p"})).await;
    let agents = b1.recv().await["payload"]["agents"].clone();
    assert_eq!(agents.as_object().unwrap().keys().collect::<Vec<_>>(), ["b1"]);
}

/// The reaper's clock is the agents' last-seen times (see the registry's unit test); here
/// every agent is stale at once (`STALE_SECS=0`) and a reap is asked for instead of waited for.
#[tokio::test]
async fn reaper_removes_stale_agents_and_closes_their_sockets() {
    let h = start_hub_with(|c| {
        c.stale_secs = 0;
        c.reap_interval_secs = 3600;
    })
    .await;
    let mut a = h.agent("sleepy", &["#general"]).await;
    let reaped: serde_json::Value =
        reqwest::Client::new().post(h.http("/api/agents/purge-stale")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(reaped["removed"], json!(["sleepy"]));
    assert_eq!(a.closed_with().await, 4003);
    let agents: serde_json::Value = reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(agents, json!([]));
}

#[tokio::test]
async fn retention_keeps_the_newest_rows_when_set() {
    let h = start_hub_with(|c| c.retention_max_rows = 100).await;
    let mut a = h.agent("alice", &[]).await;
    for i in 0..300 {
        a.send(json!({"type": "message", "payload": {"channel": "#r", "content": format!("{i}")}})).await;
    }
    a.say("alice", "#r", "last").await;
    let rows: Vec<serde_json::Value> = reqwest::Client::new().get(h.http("/api/history/r?limit=1000")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert!(rows.len() <= 101 && rows.len() >= 100, "kept {}", rows.len());
    assert_eq!(rows[0]["content"], "last");
}
