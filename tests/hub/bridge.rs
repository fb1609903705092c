//! The hub side of the agent bridge: reactions, health records, task and subagents, history
//! filters, and a client that re-announces its task after a reconnect.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

async fn get(h: &TestHub, path: &str) -> Value {
    reqwest::Client::new().get(h.http(path)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

async fn post(h: &TestHub, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(h.http(path)).bearer_auth(token).json(&body).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn observer(h: &TestHub) -> Peer {
    Peer::connect(&format!("ws://{}/ws?token={ADMIN}", h.hub.http_addr)).await
}

/// Sends `payload` as a `kind` frame and returns the ack or error that answers it.
async fn ask(p: &mut Peer, kind: &str, payload: Value) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    p.send(json!({"type": kind, "id": id, "payload": payload})).await;
    p.recv_until(|f| f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await
}

#[tokio::test]
async fn react_toggles_is_stored_and_reaches_observers() {
    let h = start_hub().await;
    let mut obs = observer(&h).await;
    let mut a = h.agent("alice", &["#general"]).await;
    let mut b = h.agent("bob", &["#general"]).await;
    let msg = a.say("alice", "#general", "ship it?").await;
    assert_eq!(msg["type"], "ack");
    let id = b.recv_until(|f| f["type"] == "message").await["id"].as_str().unwrap().to_string();

    let added = ask(&mut b, "react", json!({"message_id": id, "emoji": "👍"})).await;
    assert_eq!(added["payload"]["action"], "add", "{added}");
    assert_eq!(added["payload"]["reactions"], json!({"👍": ["bob"]}));
    let ev = obs.recv_until(|f| f["type"] == "reaction_update").await;
    assert_eq!(ev["payload"], json!({"message_id": id, "emoji": "👍", "reactor": "bob", "action": "add", "channel": "#general"}));
    let (status, rest) = post(&h, "/api/reactions", ADMIN, json!({"message_id": id, "emoji": "👍", "reactor": "carol"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["reactions"], json!({"👍": ["bob", "carol"]}));
    let removed = ask(&mut b, "react", json!({"message_id": id, "emoji": "👍"})).await;
    assert_eq!(removed["payload"]["action"], "remove");
    assert_eq!(obs.recv_until(|f| f["type"] == "reaction_update").await["payload"]["reactor"], "carol");
    assert_eq!(obs.recv_until(|f| f["type"] == "reaction_update").await["payload"]["action"], "remove");
    let listed = get(&h, &format!("/api/reactions?message_ids={id},unknown")).await;
    assert_eq!(listed, json!({id.clone(): {"👍": ["carol"]}}));

    // Every bad input is answered.
    let code = |f: &Value| f["payload"]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(code(&ask(&mut b, "react", json!({"message_id": "nope", "emoji": "👍"})).await), "NOT_FOUND");
    assert_eq!(code(&ask(&mut b, "react", json!({"message_id": id, "emoji": "a b"})).await), "INVALID_FRAME");
    assert_eq!(code(&ask(&mut b, "react", json!({"message_id": id})).await), "INVALID_FRAME");
    assert_eq!(code(&ask(&mut b, "react", json!({"message_id": {}, "emoji": "👍"})).await), "INVALID_FRAME");
    let mut anon = h.raw(ADMIN).await;
    assert_eq!(code(&ask(&mut anon, "react", json!({"message_id": id, "emoji": "👍"})).await), "NOT_REGISTERED");
    assert_eq!(post(&h, "/api/reactions", "nope", json!({"message_id": id, "emoji": "👍", "reactor": "x"})).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(&h, "/api/reactions", ADMIN, json!({"message_id": "nope", "emoji": "👍", "reactor": "x"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post(&h, "/api/reactions", ADMIN, json!({"message_id": id, "emoji": "👍"})).await.0, StatusCode::BAD_REQUEST);
    let r = reqwest::Client::new().get(h.http("/api/reactions")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_records_are_shown_broadcast_and_survive_a_restart() {
    let port = (free_port(), free_port());
    let h = start_hub_with(|c| (c.port, c.dashboard_port) = port).await;
    let mut obs = observer(&h).await;
    let mut a = h.agent("monitor", &[]).await;
    let ack = ask(&mut a, "health", json!({"state": "healthy", "reason": "all good"})).await;
    assert_eq!((ack["payload"]["agent"].as_str(), ack["payload"]["state"].as_str()), (Some("monitor"), Some("healthy")));
    let ev = obs.recv_until(|f| f["type"] == "health_update").await;
    assert_eq!(ev["payload"]["reason"], "all good");
    ask(&mut a, "health", json!({"agent": "gone-agent", "state": "dead", "reason": "no heartbeat"})).await;
    let (status, _) = post(&h, "/api/agents/health", ADMIN, json!({"agent": "other", "state": "remediating", "source": "ops"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let agents = get(&h, "/api/agents").await;
    assert_eq!(agents[0]["health"]["state"], "healthy");
    assert_eq!(agents[0]["health"]["source"], "monitor");
    let code = |f: &Value| f["payload"]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(code(&ask(&mut a, "health", json!({"state": "sleepy"})).await), "INVALID_FRAME");
    assert_eq!(code(&ask(&mut a, "health", json!({"state": 3})).await), "INVALID_FRAME");
    assert_eq!(code(&ask(&mut a, "health", json!({"state": "dead", "agent": "a b"})).await), "INVALID_NAME");
    assert_eq!(post(&h, "/api/agents/health", ADMIN, json!({"state": "dead"})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post(&h, "/api/agents/health", "nope", json!({"agent": "x", "state": "dead"})).await.0, StatusCode::UNAUTHORIZED);

    let TestHub { hub, dir } = h;
    drop(a);
    hub.shutdown().await;
    let again = scitex_orochi::hub::start({
        let mut c = test_config(dir.path());
        (c.port, c.dashboard_port) = port;
        c
    })
    .await
    .unwrap();
    let h = TestHub { hub: again, dir };
    let records = get(&h, "/api/agents/health").await;
    let states: Vec<(&str, &str)> = records.as_array().unwrap().iter().map(|r| (r["agent"].as_str().unwrap(), r["state"].as_str().unwrap())).collect();
    assert_eq!(states, [("gone-agent", "dead"), ("monitor", "healthy"), ("other", "remediating")]);
    let _back = h.agent("monitor", &[]).await;
    assert_eq!(get(&h, "/api/agents").await[0]["health"]["state"], "healthy", "shown again after re-register");
}

#[tokio::test]
async fn task_and_subagents_replace_and_reach_observers() {
    let h = start_hub().await;
    let mut obs = observer(&h).await;
    let mut a = h.raw(ADMIN).await;
    a.send(json!({"type": "register", "sender": "lead", "id": "r", "payload": {"subagents": [{"name": "s1"}]}})).await;
    a.recv_until(|f| f["payload"]["ref"] == "r").await;
    assert_eq!(get(&h, "/api/agents").await[0]["subagents"], json!([{"name": "s1", "task": "", "status": ""}]));
    let ack = ask(&mut a, "task_update", json!({"task": "writing tests"})).await;
    assert_eq!(ack["payload"]["task"], "writing tests");
    let ev = obs.recv_until(|f| f["type"] == "status_update").await;
    assert_eq!(ev["payload"]["current_task"], "writing tests");
    let list = json!([{"name": "a", "task": "t1", "status": "running"}, {"name": "b"}]);
    assert_eq!(ask(&mut a, "subagents_update", json!({"subagents": list})).await["payload"]["subagent_count"], 2);
    let ev = obs.recv_until(|f| f["type"] == "status_update" && f["payload"]["subagent_count"] == 2).await;
    assert_eq!(ev["payload"]["subagents"][0]["name"], "a");
    let me = &get(&h, "/api/agents").await[0];
    assert_eq!((me["current_task"].as_str(), me["subagent_count"].as_i64()), (Some("writing tests"), Some(2)));
    let code = |f: &Value| f["payload"]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(code(&ask(&mut a, "task_update", json!({"task": "x".repeat(201)})).await), "FIELD_TOO_LARGE");
    assert_eq!(code(&ask(&mut a, "subagents_update", json!({})).await), "INVALID_FRAME");
    assert_eq!(code(&ask(&mut a, "subagents_update", json!({"subagents": [{"task": "x"}]})).await), "INVALID_FRAME");
    let too_many: Vec<Value> = (0..65).map(|i| json!({"name": format!("s{i}")})).collect();
    assert_eq!(code(&ask(&mut a, "subagents_update", json!({"subagents": too_many})).await), "INVALID_FRAME");
    assert_eq!(ask(&mut a, "subagents_update", json!({"subagents": []})).await["payload"]["subagent_count"], 0);
}

#[tokio::test]
async fn history_filters_by_sender_and_text() {
    let h = start_hub().await;
    let mut a = h.agent("ann", &["#f"]).await;
    let mut b = h.agent("ben", &["#f"]).await;
    a.say("ann", "#f", "Deploy started").await;
    b.say("ben", "#f", "tests green").await;
    a.say("ann", "#f", "deploy done").await;
    let rows = get(&h, "/api/history/f?sender=ann").await;
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let rows = get(&h, "/api/history/f?contains=DEPLOY&sender=ann&limit=1").await;
    assert_eq!(rows[0]["content"], "deploy done", "newest first");
    let rows = get(&h, "/api/history/f?contains=deploy&after_seq=1").await;
    assert_eq!(rows[0]["content"], "deploy done");
    let reply = {
        a.send(json!({"type": "query", "id": "q", "payload": {"channel": "#f", "contains": "green"}})).await;
        a.recv_until(|f| f["payload"]["ref"] == "q" && f["type"] == "message").await
    };
    assert_eq!(reply["payload"]["history"].as_array().unwrap().len(), 1);
    assert_eq!(reply["payload"]["history"][0]["sender"], "ben");
}
