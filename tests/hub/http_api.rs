//! Every HTTP route: shapes, status codes, auth, CORS, media safety.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get_json(h: &TestHub, path: &str) -> Value {
    let r = http().get(h.http(path)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn open_routes_and_token_required_reads() {
    let h = start_hub_with(|c| c.dashboard_ws_upstream = "wss://orochi.example.org".into()).await;
    let cfg: Value = http().get(h.http("/api/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cfg["ws_upstream"], "wss://orochi.example.org");
    assert_eq!(cfg["version"], env!("CARGO_PKG_VERSION"));
    let health = http().get(h.http("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert!(http().get(h.http("/")).send().await.unwrap().text().await.unwrap().contains("Orochi"));
    for path in ["/api/agents", "/api/agents/registry", "/api/channels", "/api/stats", "/api/resources", "/api/messages", "/api/history/general", "/api/workspaces", "/metrics"] {
        let r = http().get(h.http(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without token");
        let body: Value = r.json().await.unwrap_or(json!({"error": "Unauthorized"}));
        assert_eq!(body["error"], "Unauthorized");
        let r = http().get(h.http(&format!("{path}?token=nope"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with a bad token");
        let r = http().get(h.http(&format!("{path}?token={ADMIN}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path} with the query token");
    }
}

#[tokio::test]
async fn agents_registry_channels_stats_resources() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &["#general", "#dev"]).await;
    a.say("alice", "#stored-only", "x").await;
    let agents = get_json(&h, "/api/agents").await;
    let keys = agents[0].as_object().unwrap();
    for k in REFERENCE_AGENT_KEYS {
        assert!(keys.contains_key(*k), "contains the 15 reference keys: {k} missing from {keys:?}");
    }
    assert_eq!(agents[0]["agent_id"], "alice@test-host");
    let reg = get_json(&h, "/api/agents/registry").await;
    assert_eq!(reg[0]["status"], "online");
    let ch = get_json(&h, "/api/channels").await;
    assert_eq!(ch["#dev"], json!(["alice"]));
    assert_eq!(ch["#stored-only"], json!([]));
    let st = get_json(&h, "/api/stats").await;
    assert_eq!(st["agents_online"], 1);
    assert_eq!(st["agents"], json!(["alice"]));
    assert!(st["channels"].as_array().unwrap().contains(&json!("#stored-only")));
    for k in ["channels_active", "observers_connected", "telegram_bridge", "push_subscriptions"] {
        assert!(st.get(k).is_some(), "stats has {k}");
    }
    let res = get_json(&h, "/api/resources").await;
    assert_eq!(res["alice"]["machine"], "test-host");
    let purge: Value = http().post(h.http("/api/agents/purge-stale")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    assert_eq!(purge, json!({"removed": [], "remaining": 1}));
}

#[tokio::test]
async fn post_and_read_messages() {
    let h = start_hub().await;
    let mut bob = h.agent("bob", &["#general"]).await;
    let r = http().post(h.http("/api/messages")).bearer_auth(ADMIN)
        .json(&json!({"type": "ignored", "sender": "ywatanabe", "payload": {"channel": "#general", "content": "from rest @bob"}}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["seq"], 1);
    let got = bob.recv_until(|f| f["type"] == "message").await;
    assert_eq!(got["sender"], "ywatanabe");
    assert_eq!(got["id"], body["id"]);
    for (bad, code) in [
        (json!({"payload": {"content": "no channel"}}), StatusCode::BAD_REQUEST),
        (json!({"payload": {"channel": "#g", "content": 5}}), StatusCode::BAD_REQUEST),
        (json!({"payload": "nope"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = http().post(h.http("/api/messages")).bearer_auth(ADMIN).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), code, "{bad}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().is_some_and(|s| !s.is_empty()), "{e}");
    }
    let r = http().post(h.http("/api/messages")).bearer_auth(ADMIN).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    let r = http().post(h.http("/api/messages")).json(&json!({"payload": {"channel": "#g"}})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    for i in 0..3 {
        http().post(h.http("/api/messages")).bearer_auth(ADMIN).json(&json!({"payload": {"channel": "#general", "content": format!("n{i}")}})).send().await.unwrap();
    }
    let recent = get_json(&h, "/api/messages?limit=2").await;
    let c: Vec<&str> = recent.as_array().unwrap().iter().map(|r| r["content"].as_str().unwrap()).collect();
    assert_eq!(c, ["n1", "n2"], "oldest first");
    let hist = get_json(&h, "/api/history/general?limit=2").await;
    assert_eq!(hist[0]["content"], "n2", "newest first");
    let hist = get_json(&h, "/api/history/%23general?after_seq=3").await;
    assert_eq!(hist.as_array().unwrap().len(), 1);
    let r = http().get(h.http("/api/messages?limit=abc")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // History takes the socket's `query` fields with the same limits.
    let long = "x".repeat(257);
    for bad in ["limit=abc", "after_seq=1.5", &format!("sender={long}"), &format!("contains={long}")] {
        let r = http().get(h.http(&format!("/api/history/general?{bad}"))).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let e: Value = r.json().await.unwrap();
        let field = bad.split('=').next().unwrap();
        assert!(e["error"].as_str().unwrap().contains(field), "{bad}: {e}");
    }
}

#[tokio::test]
async fn uploads_are_named_by_the_hub_limited_while_streaming_and_served_safely() {
    let h = start_hub_with(|c| c.media_max_size = 64 * 1024).await;
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(png.clone()).file_name("../../evil.png").mime_str("image/png").unwrap());
    let r = http().post(h.http("/api/upload")).bearer_auth(ADMIN).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let att: Value = r.json().await.unwrap();
    assert_eq!(att["filename"], "evil.png");
    assert_eq!(att["size"], 7);
    let url = att["url"].as_str().unwrap();
    assert!(url.starts_with("/media/") && url.ends_with(".png") && url.contains(att["file_id"].as_str().unwrap()), "{url}");
    let r = http().get(h.http(url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "media needs a token");
    let r = http().get(h.http(url)).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-disposition"], "inline");
    assert_eq!(r.bytes().await.unwrap().to_vec(), png);
    // HTML is never served inline, whatever it claims to be.
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(b"<script>alert(1)</script>".to_vec()).file_name("x.html").mime_str("text/html").unwrap());
    let att: Value = http().post(h.http("/api/upload")).bearer_auth(ADMIN).multipart(form).send().await.unwrap().json().await.unwrap();
    let r = http().get(h.http(att["url"].as_str().unwrap())).bearer_auth(ADMIN).send().await.unwrap();
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    // Too large: 413, and nothing is left behind.
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![0u8; 200 * 1024]).file_name("big.bin"));
    let r = http().post(h.http("/api/upload")).bearer_auth(ADMIN).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let files: usize = walk(&h.dir.path().join("media"));
    assert_eq!(files, 2, "the rejected upload left no file");
    let form = reqwest::multipart::Form::new().text("other", "x");
    let r = http().post(h.http("/api/upload")).bearer_auth(ADMIN).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Base64 uploads, including canvas data URLs.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let r = http().post(h.http("/api/upload-base64")).bearer_auth(ADMIN)
        .json(&json!({"data": format!("data:image/png;base64,{b64}"), "filename": "sketch.png", "mime_type": "image/png"}))
        .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for (body, code) in [
        (json!({"filename": "x"}), StatusCode::BAD_REQUEST),
        (json!({"data": "!!!not base64"}), StatusCode::BAD_REQUEST),
        (json!({"data": base64::engine::general_purpose::STANDARD.encode(vec![0u8; 70 * 1024])}), StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        let r = http().post(h.http("/api/upload-base64")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), code);
    }
    for bad in ["/media/../orochi.db", "/media/2026-01/..%2F..%2Forochi.db", "/media/2026-01/not-a-uuid.png"] {
        let r = http().get(h.http(bad)).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum()).unwrap_or(0)
}

#[tokio::test]
async fn workspaces_tokens_are_hashed_shown_once_and_revocable() {
    let h = start_hub().await;
    let list = get_json(&h, "/api/workspaces").await;
    assert_eq!(list[0]["name"], "default");
    let r = http().post(h.http("/api/workspaces")).bearer_auth(ADMIN).json(&json!({"name": " lab ", "channels": ["#lab"]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let ws: Value = r.json().await.unwrap();
    assert_eq!(ws["name"], "lab");
    assert_eq!(ws["channels"], json!(["#lab"]));
    let id = ws["id"].as_str().unwrap().to_string();
    let token = ws["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("wks_") && token.len() == 36);
    let dup = http().post(h.http("/api/workspaces")).bearer_auth(ADMIN).json(&json!({"name": "lab"})).send().await.unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let r = http().post(h.http("/api/workspaces")).bearer_auth(ADMIN).json(&json!({"name": "  "})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // The database holds only hashes.
    let db = std::fs::read(h.dir.path().join("orochi.db")).unwrap();
    let wal = std::fs::read(h.dir.path().join("orochi.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(!hay.windows(token.len()).any(|w| w == token.as_bytes()), "token stored in clear");
    // Listed without the token; the workspace token reads but cannot write.
    let toks = get_json(&h, &format!("/api/workspaces/{id}/tokens")).await;
    assert!(toks[0].get("token").is_none() && toks[0]["hint"].as_str().unwrap().starts_with("wks_"));
    let r = http().get(h.http(&format!("/api/workspaces/{id}/tokens"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "listing tokens needs the admin token");
    let r = http().get(h.http("/api/agents")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut p = h.raw(&token).await;
    p.register("lab-agent", &[]).await;
    // Members, channels, invites.
    let ok: Value = http().post(h.http(&format!("/api/workspaces/{id}/members"))).bearer_auth(ADMIN).json(&json!({"agent_name": "lab-agent", "role": "admin"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(ok, json!({"ok": true}));
    http().post(h.http(&format!("/api/workspaces/{id}/channels"))).bearer_auth(ADMIN).json(&json!({"channel": "#lab2"})).send().await.unwrap();
    let inv: Value = http().post(h.http(&format!("/api/workspaces/{id}/invites"))).bearer_auth(ADMIN).json(&json!({"max_uses": 1, "created_by": "yw"})).send().await.unwrap().json().await.unwrap();
    let invite = inv["token"].as_str().unwrap();
    let red = http().post(h.http("/api/invites/redeem")).json(&json!({"token": invite, "agent_name": "newbie"})).send().await.unwrap();
    assert_eq!(red.status(), StatusCode::OK);
    let ws_now: Value = red.json().await.unwrap();
    assert_eq!(ws_now["members"]["newbie"], "member");
    assert_eq!(ws_now["members"]["lab-agent"], "admin");
    assert_eq!(ws_now["channels"], json!(["#lab", "#lab2"]));
    let again = http().post(h.http("/api/invites/redeem")).json(&json!({"token": invite, "agent_name": "other"})).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::BAD_REQUEST, "exhausted");
    let invs = get_json(&h, &format!("/api/workspaces/{id}/invites")).await;
    assert_eq!(invs[0]["use_count"], 1);
    let r = http().delete(h.http(&format!("/api/workspaces/{id}/invites/{invite}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Revoke by id; the token stops working.
    let extra: Value = http().post(h.http(&format!("/api/workspaces/{id}/tokens"))).bearer_auth(ADMIN).json(&json!({"label": "ci"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(extra["label"], "ci");
    let toks = get_json(&h, &format!("/api/workspaces/{id}/tokens")).await;
    let first_id = toks.as_array().unwrap().iter().find(|t| t["label"] == "default").unwrap()["id"].as_str().unwrap().to_string();
    let r = http().delete(h.http(&format!("/api/workspaces/{id}/tokens/{first_id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut p = h.raw(&token).await;
    assert_eq!(p.recv().await["payload"]["code"], "AUTH_FAILED");
    // Deleting the workspace revokes its remaining tokens.
    let r = http().delete(h.http(&format!("/api/workspaces/{id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut p = h.raw(extra["token"].as_str().unwrap()).await;
    assert_eq!(p.recv().await["payload"]["code"], "AUTH_FAILED");
    let default_id = list[0]["id"].as_str().unwrap();
    let r = http().delete(h.http(&format!("/api/workspaces/{default_id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the default workspace stays");
    let r = http().get(h.http("/api/workspaces/nope")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_allows_exact_origins_only() {
    let h = start_hub_with(|c| c.cors_origins = vec!["https://orochi-dev.example.org".into()]).await;
    let pre = http().request(reqwest::Method::OPTIONS, h.http("/api/messages"))
        .header("Origin", "https://orochi-dev.example.org")
        .header("Access-Control-Request-Method", "DELETE")
        .send().await.unwrap();
    assert!(pre.status().is_success());
    assert_eq!(pre.headers()["access-control-allow-origin"], "https://orochi-dev.example.org");
    assert!(pre.headers()["access-control-allow-methods"].to_str().unwrap().contains("DELETE"));
    let r = http().get(h.http("/api/config")).header("Origin", "https://evil.example.org").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = http().get(h.http("/api/config")).header("Origin", "https://orochi-dev.example.org").send().await.unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://orochi-dev.example.org");
}

#[tokio::test]
async fn observer_socket_needs_admin_and_can_post() {
    let h = start_hub().await;
    let ws_url = h.http("/ws").replace("http", "ws");
    let r = http().get(h.http("/ws")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(tokio_tungstenite::connect_async(format!("{ws_url}?token=bad")).await.is_err());
    let mut bob = h.agent("bob", &["#general"]).await;
    let mut obs = Peer::connect(&format!("{ws_url}?token={ADMIN}")).await;
    obs.send(json!({"type": "message", "sender": "human-yw", "id": "client-id", "payload": {"channel": "#general", "content": "from dashboard"}})).await;
    let got = bob.recv_until(|f| f["type"] == "message").await;
    assert_eq!(got["sender"], "human-yw");
    assert_ne!(got["id"], "client-id", "the hub assigns ids to observer posts");
    // Observers see every message, including ones they did not send.
    bob.say("bob", "#general", "hi dashboard").await;
    let seen = obs.recv_until(|f| f["type"] == "message" && f["sender"] == "bob").await;
    assert_eq!(seen["seq"], 2);
    let m = http().get(h.http("/metrics")).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("orochi_messages_stored_total 2"), "{m}");
    assert!(m.contains("orochi_observer_connections 1"), "{m}");
}

#[tokio::test]
async fn join_adds_a_member_for_good() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &[]).await;
    let r: Value = http().post(h.http("/api/channels/%23alerts/members")).bearer_auth(ADMIN).json(&json!({"agent": "alice"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(r["live"], true);
    let mut b = h.agent("bob", &[]).await;
    b.say("bob", "#alerts", "fire").await;
    assert_eq!(a.recv_until(|f| f["type"] == "message").await["payload"]["content"], "fire");
    let r = http().post(h.http("/api/channels/alerts/members")).bearer_auth(ADMIN).json(&json!({"agent": "bad name"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Browsers apply no CORS to WebSockets: the observer socket checks `Origin` itself (listed
/// origins and the hub's own), refuses a foreign one with 403 before the upgrade, and lets a
/// client without `Origin` in on its token alone.
#[tokio::test]
async fn observer_socket_admits_listed_and_own_origins_only() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let h = start_hub_with(|c| c.cors_origins = vec!["https://orochi-dev.example.org".into()]).await;
    let ws_url = format!("{}?token={ADMIN}", h.http("/ws").replace("http", "ws"));
    let own = h.http("").trim_end_matches('/').to_string();
    let status = |origin: Option<&str>, url: &str| {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("Origin", o.parse().unwrap());
        }
        async move {
            match tokio_tungstenite::connect_async(req).await {
                Ok((_, resp)) => resp.status().as_u16(),
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(status(None, &ws_url).await, 101, "no Origin: not a browser, the token decides");
    assert_eq!(status(Some("https://orochi-dev.example.org"), &ws_url).await, 101);
    assert_eq!(status(Some(&own), &ws_url).await, 101, "the page's own origin {own}");
    for foreign in ["https://evil.example.org", "null", "http://127.0.0.1:1"] {
        assert_eq!(status(Some(foreign), &ws_url).await, 403, "{foreign}");
    }
    // A foreign page is refused even with the admin token; a listed one still needs a token.
    let no_token = h.http("/ws").replace("http", "ws");
    assert_eq!(status(Some("https://orochi-dev.example.org"), &no_token).await, 401);
    assert_eq!(status(None, &no_token).await, 401);
}
