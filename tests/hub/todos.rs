//! The TODO list over REST: create, list (ordered, filtered), update, claim, close, delete;
//! auth (reads any token, writes admin); bad input answered 400 with `{"error"}`; observers
//! told of every change; tasks survive a restart.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn call(h: &TestHub, method: Method, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = http().request(method, h.http(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create(h: &TestHub, body: Value) -> Value {
    let (s, v) = call(h, Method::POST, "/api/todos", ADMIN, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn workspace_token(h: &TestHub) -> String {
    let (s, ws) = call(h, Method::POST, "/api/workspaces", ADMIN, Some(json!({"name": "lab"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    ws["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn lifecycle_create_list_claim_close() {
    let h = start_hub().await;
    let a = create(&h, json!({"title": "  Write the dashboard  ", "body": "with **tests**", "priority": "high", "created_by": "ywatanabe"})).await;
    assert_eq!(a["title"], "Write the dashboard");
    assert_eq!(a["status"], "open");
    assert_eq!(a["priority"], "high");
    assert_eq!(a["assignee"], "");
    assert_eq!(a["created_by"], "ywatanabe");
    assert!(a["closed_at"].is_null());
    for k in ["id", "body", "created_at", "updated_at"] {
        assert!(a.get(k).is_some(), "{k}");
    }
    let b = create(&h, json!({"title": "Someday", "priority": "future"})).await;
    let c = create(&h, json!({"title": "Default priority", "assignee": "@worker-1"})).await;
    assert_eq!(c["priority"], "medium");
    assert_eq!(c["status"], "claimed", "an assignee at creation claims it");
    assert_eq!(c["assignee"], "worker-1");

    let (_, list) = call(&h, Method::GET, "/api/todos", ADMIN, None).await;
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![a["id"].as_i64().unwrap(), c["id"].as_i64().unwrap(), b["id"].as_i64().unwrap()], "ordered by priority");

    let id = a["id"].as_i64().unwrap();
    let (s, claimed) = call(&h, Method::POST, &format!("/api/todos/{id}/claim"), ADMIN, Some(json!({"assignee": "worker-2"}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((claimed["status"].as_str(), claimed["assignee"].as_str()), (Some("claimed"), Some("worker-2")));
    let (s, _) = call(&h, Method::POST, &format!("/api/todos/{id}/claim"), ADMIN, Some(json!({"assignee": "worker-2"}))).await;
    assert_eq!(s, StatusCode::OK, "claiming again by the same agent is a no-op");
    let (s, e) = call(&h, Method::POST, &format!("/api/todos/{id}/claim"), ADMIN, Some(json!({"assignee": "worker-3"}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(e["error"].as_str().unwrap().contains("worker-2"), "{e}");

    let (s, closed) = call(&h, Method::POST, &format!("/api/todos/{id}/close"), ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(closed["status"], "done");
    assert!(closed["closed_at"].is_string());
    let (s, _) = call(&h, Method::POST, &format!("/api/todos/{id}/claim"), ADMIN, Some(json!({"assignee": "worker-3"}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "a done task cannot be claimed");

    let (_, open) = call(&h, Method::GET, "/api/todos?status=open,claimed", ADMIN, None).await;
    assert_eq!(open.as_array().unwrap().len(), 2);
    let (_, high) = call(&h, Method::GET, "/api/todos?priority=high&status=done", ADMIN, None).await;
    assert_eq!(high.as_array().unwrap().len(), 1);
    let (_, mine) = call(&h, Method::GET, "/api/todos?assignee=worker-1", ADMIN, None).await;
    assert_eq!(mine[0]["id"], c["id"]);

    let (s, one) = call(&h, Method::GET, &format!("/api/todos/{id}"), ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["status"], "done");
}

#[tokio::test]
async fn update_reopen_and_delete() {
    let h = start_hub().await;
    let t = create(&h, json!({"title": "Fix the reaper", "priority": "low"})).await;
    let id = t["id"].as_i64().unwrap();
    let path = format!("/api/todos/{id}");
    let (s, u) = call(&h, Method::PATCH, &path, ADMIN, Some(json!({"title": "Fix the reaper now", "priority": "HIGH", "body": "see #dev"}))).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!((u["title"].as_str(), u["priority"].as_str(), u["body"].as_str()), (Some("Fix the reaper now"), Some("high"), Some("see #dev")));
    let (s, u) = call(&h, Method::PATCH, &path, ADMIN, Some(json!({"status": "claimed"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "claimed needs an assignee: {u}");
    let (_, u) = call(&h, Method::PATCH, &path, ADMIN, Some(json!({"status": "done", "assignee": "alice"}))).await;
    assert_eq!(u["status"], "done");
    assert!(u["closed_at"].is_string());
    let (_, u) = call(&h, Method::PATCH, &path, ADMIN, Some(json!({"status": "open"}))).await;
    assert_eq!(u["status"], "open");
    assert!(u["closed_at"].is_null(), "reopening clears closed_at");
    assert_eq!(u["assignee"], "", "reopening without an assignee frees the task");

    let (s, _) = call(&h, Method::DELETE, &path, ADMIN, None).await;
    assert_eq!(s, StatusCode::OK);
    for (m, p) in [(Method::GET, path.clone()), (Method::DELETE, path.clone()), (Method::POST, format!("{path}/close"))] {
        let (s, e) = call(&h, m, &p, ADMIN, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
        assert!(e["error"].is_string());
    }
    let (s, _) = call(&h, Method::PATCH, &path, ADMIN, Some(json!({"title": "x"}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_400_with_an_error() {
    let h = start_hub().await;
    let t = create(&h, json!({"title": "ok"})).await;
    let id = t["id"].as_i64().unwrap();
    let cases: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/api/todos".into(), json!({})),
        (Method::POST, "/api/todos".into(), json!({"title": "   "})),
        (Method::POST, "/api/todos".into(), json!({"title": "two\nlines"})),
        (Method::POST, "/api/todos".into(), json!({"title": "x".repeat(201)})),
        (Method::POST, "/api/todos".into(), json!({"title": "t", "priority": "urgent"})),
        (Method::POST, "/api/todos".into(), json!({"title": "t", "body": "b".repeat(64 * 1024 + 1)})),
        (Method::POST, "/api/todos".into(), json!({"title": 42})),
        (Method::POST, "/api/todos".into(), json!({"title": "t", "colour": "red"})),
        (Method::POST, "/api/todos".into(), json!(["not", "an", "object"])),
        (Method::PATCH, format!("/api/todos/{id}"), json!({"status": "closed"})),
        (Method::PATCH, format!("/api/todos/{id}"), json!({"title": ""})),
        (Method::PATCH, format!("/api/todos/{id}"), json!({"priority": null, "status": 3})),
        (Method::POST, format!("/api/todos/{id}/claim"), json!({})),
        (Method::POST, format!("/api/todos/{id}/claim"), json!({"assignee": "  "})),
        (Method::GET, "/api/todos/abc".into(), Value::Null),
        (Method::GET, "/api/todos/-1".into(), Value::Null),
        (Method::GET, "/api/todos?status=finished".into(), Value::Null),
        (Method::GET, "/api/todos?priority=p0".into(), Value::Null),
    ];
    for (m, path, body) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let (s, e) = call(&h, m.clone(), &path, ADMIN, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{m} {path} {body:?} -> {e}");
        assert!(e["error"].as_str().is_some_and(|t| !t.is_empty()), "{m} {path}: {e}");
    }
    let r = http().post(h.http("/api/todos")).bearer_auth(ADMIN).body("{not json").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http().post(h.http("/api/todos")).bearer_auth(ADMIN).body("title=x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no JSON content type");
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].is_string());
}

#[tokio::test]
async fn tasks_belong_to_the_workspace_that_made_them() {
    let h = start_hub().await;
    let t = create(&h, json!({"title": "visible"})).await;
    let id = t["id"].as_i64().unwrap();
    let wks = workspace_token(&h).await;
    for path in ["/api/todos".to_string(), format!("/api/todos/{id}")] {
        let (s, _) = call(&h, Method::GET, &path, "nope", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
    }
    // The admin's task is not the workspace's: absent from its list, "not found" by id.
    let (s, list) = call(&h, Method::GET, "/api/todos", &wks, None).await;
    assert_eq!((s, list), (StatusCode::OK, json!([])));
    let (s, _) = call(&h, Method::GET, &format!("/api/todos/{id}"), &wks, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::PATCH, format!("/api/todos/{id}"), Some(json!({"title": "y"}))),
        (Method::POST, format!("/api/todos/{id}/claim"), Some(json!({"assignee": "a"}))),
        (Method::POST, format!("/api/todos/{id}/close"), None),
        (Method::DELETE, format!("/api/todos/{id}"), None),
    ];
    for (m, path, body) in writes {
        let (s, e) = call(&h, m.clone(), &path, "", body.clone()).await;
        assert_eq!((s, &e["error"]), (StatusCode::UNAUTHORIZED, &json!("Unauthorized")), "{m} {path} without a token");
        let (s, _) = call(&h, m.clone(), &path, &wks, body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path} with another workspace's token");
    }
    let (_, still) = call(&h, Method::GET, &format!("/api/todos/{id}"), ADMIN, None).await;
    assert_eq!((&still["title"], &still["status"]), (&json!("visible"), &json!("open")), "nothing changed");
    // The workspace's own task: it sees and changes it, and so does the admin.
    let (s, own) = call(&h, Method::POST, "/api/todos", &wks, Some(json!({"title": "ours"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{own}");
    let own_id = own["id"].as_i64().unwrap();
    let (s, closed) = call(&h, Method::POST, &format!("/api/todos/{own_id}/close"), &wks, None).await;
    assert_eq!((s, &closed["status"]), (StatusCode::OK, &json!("done")));
    let (_, list) = call(&h, Method::GET, "/api/todos", &wks, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, all) = call(&h, Method::GET, "/api/todos", ADMIN, None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn observers_hear_every_change() {
    let h = start_hub().await;
    let mut obs = Peer::connect(&format!("{}/ws?token={ADMIN}", h.http("").replace("http://", "ws://"))).await;
    let t = create(&h, json!({"title": "announce me"})).await;
    let id = t["id"].as_i64().unwrap();
    let f = obs.recv_until(|f| f["type"] == "todo_update").await;
    assert_eq!(f["payload"]["event"], "created");
    assert_eq!(f["payload"]["todo"]["title"], "announce me");
    call(&h, Method::POST, &format!("/api/todos/{id}/claim"), ADMIN, Some(json!({"assignee": "bob"}))).await;
    let f = obs.recv_until(|f| f["type"] == "todo_update").await;
    assert_eq!((f["payload"]["event"].as_str(), f["payload"]["todo"]["assignee"].as_str()), (Some("claimed"), Some("bob")));
    call(&h, Method::POST, &format!("/api/todos/{id}/close"), ADMIN, None).await;
    let f = obs.recv_until(|f| f["type"] == "todo_update").await;
    assert_eq!(f["payload"]["event"], "closed");
    call(&h, Method::DELETE, &format!("/api/todos/{id}"), ADMIN, None).await;
    let f = obs.recv_until(|f| f["type"] == "todo_update").await;
    assert_eq!(f["payload"], json!({"event": "deleted", "todo": {"id": id}}));
}

#[tokio::test]
async fn tasks_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = test_config(dir.path());
    let hub = scitex_orochi::hub::start(cfg.clone()).await.unwrap();
    let base = hub.http_url();
    let r = http().post(format!("{base}/api/todos")).bearer_auth(ADMIN).json(&json!({"title": "durable", "priority": "low"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    hub.shutdown().await;
    let hub = scitex_orochi::hub::start(cfg).await.unwrap();
    let list: Value = http().get(format!("{}/api/todos", hub.http_url())).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["title"], "durable");
    assert_eq!(list[0]["priority"], "low");
    hub.shutdown().await;
}
