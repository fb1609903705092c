//! The permission relay at the hub: `permission_request` frames from agent sockets, answers
//! over REST (admin or approver tokens only, each refusal with its own status), `yes <id>` /
//! `no <id>` in `#approvals` from approver connections only, expiry by time and when the
//! agent's socket goes away, re-announces after a reconnect, and Web Push to approvers.

use reqwest::StatusCode;
use scitex_orochi::protocol::Kind;
use serde_json::{Value, json};

use crate::common::*;
use crate::push::{fake_push_service, rand_core_rng, wait_for};

/// A lab workspace with its plain token, and approver tokens for `people`.
struct Lab {
    id: String,
    token: String,
    approvers: Vec<String>,
}

async fn approver_token(h: &TestHub, workspace: &str, person: &str) -> String {
    let body = json!({"label": "phone", "role": "approver", "person": person});
    let r = http().post(h.http(&format!("/api/workspaces/{workspace}/tokens"))).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["role"].as_str(), v["person"].as_str()), (Some("approver"), Some(person)), "{v}");
    v["token"].as_str().unwrap().to_string()
}

async fn lab(h: &TestHub, name: &str, people: &[&str]) -> Lab {
    let w = create_workspace(&h.hub.http_url(), name).await;
    let id = w["id"].as_str().unwrap().to_string();
    let mut approvers = Vec::new();
    for p in people {
        approvers.push(approver_token(h, &id, p).await);
    }
    Lab { id, token: w["token"].as_str().unwrap().to_string(), approvers }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A registered agent socket with `token`.
async fn agent(h: &TestHub, token: &str, name: &str) -> Peer {
    let mut p = h.raw(token).await;
    p.register(name, &["#general"]).await;
    p
}

/// Sends a `permission_request` with frame id `frame` and returns its ack or error.
async fn ask(p: &mut Peer, name: &str, frame: &str, request_id: &str, preview: &str) -> Value {
    p.send(json!({"type": "permission_request", "sender": name, "id": frame, "payload": {
        "request_id": request_id, "tool_name": "Bash", "description": "Run the test suite", "input_preview": preview}}))
        .await;
    p.recv_until(|f| f["payload"]["ref"] == frame && (f["type"] == "ack" || f["type"] == "error")).await
}

async fn asked(p: &mut Peer, name: &str, frame: &str, request_id: &str) -> String {
    let ack = ask(p, name, frame, request_id, r#"{"command":"cargo test"}"#).await;
    assert_eq!((ack["type"].as_str(), ack["payload"]["status"].as_str()), (Some("ack"), Some("pending")), "{ack}");
    ack["payload"]["permission_id"].as_str().unwrap().to_string()
}

async fn answer(h: &TestHub, id: &str, behavior: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = http().post(h.http(&format!("/api/permissions/{id}"))).json(&json!({"behavior": behavior}));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn list(h: &TestHub, query: &str, token: &str) -> (StatusCode, Value) {
    let r = http().get(h.http(&format!("/api/permissions{query}"))).bearer_auth(token).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn verdict(p: &mut Peer) -> Value {
    p.recv_until(|f| f["type"] == "permission_verdict" || f["type"] == "permission_expired").await
}

/// The live updates of `/ws/permissions`.
async fn watcher(h: &TestHub, token: &str) -> Peer {
    let url = format!("ws://{}/ws/permissions?token={token}", h.hub.http_addr);
    Peer::connect(&url).await
}

async fn update(w: &mut Peer, event: &str, id: &str) -> Value {
    w.recv_until(|f| f["type"] == "permission_update" && f["payload"]["event"] == event && f["payload"]["permission"]["id"] == id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_rest_reach_the_agent_and_refusals_are_clear() {
    let h = start_hub().await;
    let lab = lab(&h, "lab", &["alice"]).await;
    let other = lab_other(&h).await;
    let mut worker = agent(&h, &lab.token, "worker").await;
    let mut watch = watcher(&h, &lab.approvers[0]).await;
    let id = asked(&mut worker, "worker", "f-1", "abcde").await;
    assert_eq!(id.len(), 6);
    let live = update(&mut watch, "requested", &id).await;
    assert_eq!(live["payload"]["permission"]["tool_name"], "Bash");

    let (s, pending) = list(&h, "", ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    let row = &pending[0];
    assert_eq!((row["id"].as_str(), row["agent"].as_str(), row["request_id"].as_str()), (Some(id.as_str()), Some("worker"), Some("abcde")));
    assert_eq!((row["tool_name"].as_str(), row["status"].as_str()), (Some("Bash"), Some("pending")));
    assert_eq!(row["input_preview"], r#"{"command":"cargo test"}"#);
    assert_eq!(row["workspace_id"], lab.id.as_str());
    assert!(row["expires_at"].as_str().is_some_and(|e| e > row["created_at"].as_str().unwrap()), "{row}");
    assert_eq!(list(&h, "", &lab.approvers[0]).await.1.as_array().unwrap().len(), 1, "the lab's approver sees it");
    assert_eq!(list(&h, "", &other).await.1, json!([]), "another workspace's approver does not");
    assert_eq!(list(&h, "", &lab.token).await.0, StatusCode::FORBIDDEN, "a plain workspace token reads no previews");
    let r = http().get(h.http("/api/permissions")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Refusals, each with its own status and a message, none reaching the agent.
    let (s, e) = answer(&h, &id, "allow", Some(&lab.token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the asking agent's (plain workspace) token: {e}");
    assert!(e["error"].as_str().unwrap().contains("approver token"), "{e}");
    assert_eq!(answer(&h, &id, "allow", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(answer(&h, &id, "allow", Some("wks_00000000000000000000000000000000")).await.0, StatusCode::UNAUTHORIZED);
    let (s, e) = answer(&h, &id, "allow", Some(&other)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another workspace's approver: {e}");
    let (s, e) = answer(&h, "zzzzzz", "allow", Some(ADMIN)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::NOT_FOUND, Some("no permission request zzzzzz")));
    let (s, e) = answer(&h, &id, "maybe", Some(ADMIN)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let r = http().post(h.http(&format!("/api/permissions/{id}"))).bearer_auth(ADMIN).header("content-type", "application/json").body("{nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    worker.expect_silence(std::time::Duration::from_millis(200)).await;

    // The approver's answer: accepted, audited with the person and address, sent to the agent.
    let (s, done) = answer(&h, &id, "allow", Some(&lab.approvers[0])).await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!((done["status"].as_str(), done["behavior"].as_str()), (Some("allowed"), Some("allow")));
    assert_eq!((done["answered_by"].as_str(), done["answered_from"].as_str(), done["answered_via"].as_str()), (Some("alice"), Some("127.0.0.1"), Some("rest")));
    let v = verdict(&mut worker).await;
    assert_eq!(v["type"], "permission_verdict");
    assert_eq!(v["payload"], json!({"id": id, "request_id": "abcde", "behavior": "allow"}));
    update(&mut watch, "answered", &id).await;

    let (s, e) = answer(&h, &id, "deny", Some(ADMIN)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"], format!("request {id} was already answered: allow by alice"));
    worker.expect_silence(std::time::Duration::from_millis(200)).await;
    assert_eq!(list(&h, "", ADMIN).await.1, json!([]), "answered requests leave the pending list");
    let (_, all) = list(&h, "?all&agent=worker", ADMIN).await;
    assert_eq!((all[0]["id"].as_str(), all[0]["answered_by"].as_str()), (Some(id.as_str()), Some("alice")));

    // A socket that came with an approver token never answers its own requests.
    let mut self_approver = agent(&h, &lab.approvers[0], "sly").await;
    let own = asked(&mut self_approver, "sly", "f-2", "fghij").await;
    let (s, e) = answer(&h, &own, "allow", Some(&lab.approvers[0])).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("own requests"), "{e}");
    assert_eq!(answer(&h, &own, "deny", Some(ADMIN)).await.0, StatusCode::OK, "the admin still can");

    // A revoked approver token answers nothing.
    let hint: Value = http().get(h.http(&format!("/api/workspaces/{}/tokens", lab.id))).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let alice = hint.as_array().unwrap().iter().find(|t| t["person"] == "alice").expect("listed with its person").clone();
    assert_eq!(alice["role"], "approver");
    let r = http().delete(h.http(&format!("/api/workspaces/{}/tokens/{}", lab.id, alice["id"].as_str().unwrap()))).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let next = asked(&mut worker, "worker", "f-3", "klmno").await;
    assert_eq!(answer(&h, &next, "allow", Some(&lab.approvers[0])).await.0, StatusCode::UNAUTHORIZED);
}

/// Another workspace with an approver (bob); returns bob's token.
async fn lab_other(h: &TestHub) -> String {
    lab(h, "elsewhere", &["bob"]).await.approvers.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approver_tokens_need_a_person_and_a_known_role() {
    let h = start_hub().await;
    let w = create_workspace(&h.hub.http_url(), "lab").await;
    let url = h.http(&format!("/api/workspaces/{}/tokens", w["id"].as_str().unwrap()));
    for (body, why) in [
        (json!({"role": "approver"}), "needs person"),
        (json!({"role": "approver", "person": "  "}), "needs person"),
        (json!({"role": "approver", "person": "x".repeat(129)}), "at most 128"),
        (json!({"role": "approver", "person": "a\nb"}), "printable"),
        (json!({"role": "owner", "person": "al"}), "unknown"),
        (json!({"person": "al"}), "give role"),
    ] {
        let r = http().post(&url).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains(why), "{body}: {e}");
    }
    let r = http().post(&url).bearer_auth(w["token"].as_str().unwrap()).json(&json!({"role": "approver", "person": "al"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "only the admin creates tokens");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_with_a_code() {
    let h = start_hub().await;
    let mut unregistered = h.raw(ADMIN).await;
    let e = ask(&mut unregistered, "ghost", "u-1", "abcde", "{}").await;
    assert_eq!(e["payload"]["code"], "NOT_REGISTERED");
    let mut a = h.agent("asker", &["#general"]).await;
    let cases = [
        (json!({"tool_name": "Bash"}), "INVALID_FRAME"),
        (json!({"request_id": "abcde"}), "INVALID_FRAME"),
        (json!({"request_id": "ab cd", "tool_name": "Bash"}), "INVALID_FRAME"),
        (json!({"request_id": 5, "tool_name": "Bash"}), "INVALID_FRAME"),
        (json!({"request_id": "abcde", "tool_name": "Ba\u{7}sh"}), "INVALID_FRAME"),
        (json!({"request_id": "abcde", "tool_name": "Bash", "input_preview": "x".repeat(4001)}), "FIELD_TOO_LARGE"),
        (json!({"request_id": "a".repeat(65), "tool_name": "Bash"}), "FIELD_TOO_LARGE"),
    ];
    for (i, (payload, code)) in cases.into_iter().enumerate() {
        let frame = format!("bad-{i}");
        a.send(json!({"type": "permission_request", "sender": "asker", "id": frame, "payload": payload})).await;
        let e = a.recv_until(|f| f["payload"]["ref"] == frame.as_str()).await;
        assert_eq!((e["type"].as_str(), e["payload"]["code"].as_str()), (Some("error"), Some(code)), "{payload}: {e}");
    }
    assert_eq!(list(&h, "", ADMIN).await.1, json!([]), "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_spend_the_socket_message_budget() {
    let h = start_hub_with(|c| {
        c.rate_messages_per_sec = 1;
        c.rate_burst = 1;
    })
    .await;
    let token = h.workspace_token("lab").await;
    let mut a = agent(&h, &token, "flooder").await;
    asked(&mut a, "flooder", "f-1", "abcde").await;
    let e = ask(&mut a, "flooder", "f-2", "fghij", "{}").await;
    assert_eq!(e["payload"]["code"], "RATE_LIMITED", "{e}");
    assert_eq!(list(&h, "", ADMIN).await.1.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_with_the_same_request_id_are_answered_separately() {
    let h = start_hub().await;
    let mut a = h.agent("agent-a", &["#general"]).await;
    let mut b = h.agent("agent-b", &["#general"]).await;
    let ia = asked(&mut a, "agent-a", "fa", "qwert").await;
    let ib = asked(&mut b, "agent-b", "fb", "qwert").await;
    assert_ne!(ia, ib);
    assert_eq!(answer(&h, &ib, "deny", Some(ADMIN)).await.0, StatusCode::OK);
    assert_eq!(answer(&h, &ia, "allow", Some(ADMIN)).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut a).await["payload"], json!({"id": ia, "request_id": "qwert", "behavior": "allow"}));
    assert_eq!(verdict(&mut b).await["payload"], json!({"id": ib, "request_id": "qwert", "behavior": "deny"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_in_approvals_answers_only_from_an_approver_connection() {
    let h = start_hub().await;
    let lab = lab(&h, "lab", &["alice"]).await;
    let mut worker = agent(&h, &lab.token, "worker").await;
    let id = asked(&mut worker, "worker", "f-1", "abcde").await;

    // The note names agent and tool, never the preview.
    let history: Vec<Value> = http().get(h.http("/api/history/approvals")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let note = history.iter().map(|r| r["content"].as_str().unwrap()).find(|c| c.contains(&id)).expect("a note in #approvals").to_string();
    assert!(note.contains("worker") && note.contains("Bash"), "{note}");
    assert!(!note.contains("cargo test"), "no preview in the channel: {note}");

    // Anyone else saying yes: the agent's own socket, another plain token, the admin.
    assert_eq!(worker.say("worker", "#approvals", &format!("yes {id}")).await["type"], "ack");
    let mut plain = h.raw(&lab.token).await;
    assert_eq!(plain.say("lab-human", "#approvals", &format!("yes {id}")).await["type"], "ack");
    let mut admin = h.raw(ADMIN).await;
    assert_eq!(admin.say("boss", "#approvals", &format!("yes {id}")).await["type"], "ack");
    // The approver, in another channel: nothing either.
    let mut phone = h.raw(&lab.approvers[0]).await;
    assert_eq!(phone.say("alice", "#general", &format!("yes {id}")).await["type"], "ack");
    // The approver in #approvals: answered. Had any of the above counted, this would be allow.
    assert_eq!(phone.say("alice", "#approvals", &format!("no {id}")).await["type"], "ack");
    let v = verdict(&mut worker).await;
    assert_eq!(v["payload"], json!({"id": id, "request_id": "abcde", "behavior": "deny"}));
    let (_, all) = list(&h, "?all", ADMIN).await;
    assert_eq!((all[0]["answered_by"].as_str(), all[0]["answered_via"].as_str(), all[0]["answered_from"].as_str()), (Some("alice"), Some("chat"), Some("127.0.0.1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_expires_after_its_time_and_cannot_be_answered() {
    let h = start_hub_with(|c| c.permission_expiry_secs = 1).await;
    let mut watch = watcher(&h, ADMIN).await;
    let mut a = h.agent("slow", &["#general"]).await;
    let id = asked(&mut a, "slow", "f-1", "abcde").await;
    update(&mut watch, "expired", &id).await;
    let v = verdict(&mut a).await;
    assert_eq!((&v["type"], &v["payload"]), (&json!("permission_expired"), &json!({"id": id, "request_id": "abcde"})));
    let (s, e) = answer(&h, &id, "allow", Some(ADMIN)).await;
    assert_eq!((s, e["error"].as_str()), (StatusCode::GONE, Some(format!("request {id} expired and can no longer be answered").as_str())));
    a.expect_silence(std::time::Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_expires_when_its_agent_goes_away_and_survives_a_quick_return() {
    let h = start_hub_with(|c| c.permission_grace_secs = 0).await;
    let mut watch = watcher(&h, ADMIN).await;
    let mut a = h.agent("leaver", &["#general"]).await;
    let id = asked(&mut a, "leaver", "f-1", "abcde").await;
    drop(a);
    update(&mut watch, "expired", &id).await;
    assert_eq!(answer(&h, &id, "allow", Some(ADMIN)).await.0, StatusCode::GONE);

    // With a grace period, a bridge that reconnects and re-announces gets the same request,
    // and the verdict reaches its new socket.
    let h = start_hub().await;
    let mut a = h.agent("bouncer", &["#general"]).await;
    let id = asked(&mut a, "bouncer", "f-1", "abcde").await;
    drop(a);
    let mut again = h.agent("bouncer", &["#general"]).await;
    assert_eq!(asked(&mut again, "bouncer", "f-1", "abcde").await, id, "a re-announce finds the same request");
    assert_eq!(answer(&h, &id, "allow", Some(ADMIN)).await.0, StatusCode::OK);
    assert_eq!(verdict(&mut again).await["payload"]["behavior"], "allow");
    // Answered while the bridge was away: the re-announce brings the verdict.
    drop(again);
    let mut third = h.agent("bouncer", &["#general"]).await;
    let ack = ask(&mut third, "bouncer", "f-1", "abcde", "{}").await;
    assert_eq!(ack["payload"]["status"], "allowed");
    assert_eq!(verdict(&mut third).await["payload"]["behavior"], "allow");
}

/// A reaped (silent) agent is gone as much as one whose socket closed. Every agent is stale
/// at once (`STALE_SECS=0`) and the reap is asked for, not waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaped_agents_requests_expire() {
    let h = start_hub_with(|c| {
        c.permission_grace_secs = 0;
        c.stale_secs = 0;
        c.reap_interval_secs = 3600;
    })
    .await;
    let mut watch = watcher(&h, ADMIN).await;
    let mut a = h.agent("silent", &["#general"]).await;
    let id = asked(&mut a, "silent", "f-1", "abcde").await;
    let reaped = http().post(h.http("/api/agents/purge-stale")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(reaped.status(), StatusCode::OK);
    update(&mut watch, "expired", &id).await;
    assert_eq!(answer(&h, &id, "allow", Some(ADMIN)).await.0, StatusCode::GONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_get_an_urgent_push_and_plain_tokens_none() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use web_push_native::p256::{self, elliptic_curve::sec1::ToEncodedPoint};

    let h = start_hub().await;
    let lab = lab(&h, "lab", &["alice"]).await;
    let ua_secret = p256::SecretKey::random(&mut rand_core_rng());
    let ua_public = URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_encoded_point(false).as_bytes());
    let auth = [5u8; 16];
    let (approver_endpoint, approver_fake) = fake_push_service().await;
    let (plain_endpoint, plain_fake) = fake_push_service().await;
    for (endpoint, token) in [(&approver_endpoint, &lab.approvers[0]), (&plain_endpoint, &lab.token)] {
        let sub = json!({"endpoint": endpoint, "keys": {"p256dh": ua_public, "auth": URL_SAFE_NO_PAD.encode(auth)}, "name": ""});
        let r = http().post(h.http("/api/push/subscribe")).bearer_auth(token).json(&sub).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut worker = agent(&h, &lab.token, "worker").await;
    let id = asked(&mut worker, "worker", "f-1", "abcde").await;
    wait_for(&approver_fake, 1).await;
    let (headers, body) = approver_fake.lock().unwrap().received[0].clone();
    assert_eq!(headers["urgency"], "high");
    let plain = web_push_native::decrypt(body, &ua_secret, &auth.into()).expect("decrypts");
    let note: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(note["title"], "worker asks to use Bash");
    assert!(note["body"].as_str().unwrap().contains(&id), "{note}");
    assert!(!note.to_string().contains("cargo test"), "no preview in a push: {note}");
    // A second request: the plain token's browser heard neither.
    asked(&mut worker, "worker", "f-2", "fghij").await;
    wait_for(&approver_fake, 2).await;
    assert!(plain_fake.lock().unwrap().received.is_empty(), "a plain workspace token's browser is not an approver's");
}

/// A TCP relay to the hub's agent port that can be cut (open sockets dropped, new ones refused)
/// and restored, to hold a client away from the hub for as long as a test needs.
struct Relay {
    addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay { addr: listener.local_addr().unwrap(), open: Default::default(), links: Default::default() };
        relay.open.store(true, Ordering::SeqCst);
        let (open, links) = (relay.open.clone(), relay.links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !open.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else { continue };
                let task = tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
                links.lock().unwrap().push(task.abort_handle());
            }
        });
        relay
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The client announces a request again after a reconnect: a verdict given while it was away
/// reaches it on its new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_given_while_the_client_was_away_arrives_after_its_reconnect() {
    use scitex_orochi::{ClientOptions, OrochiClient};
    let h = start_hub().await;
    let relay = Relay::start(h.hub.ws_addr).await;
    let mut o = ClientOptions::new(format!("ws://{}/", relay.addr), ADMIN, "roamer");
    o.ping = Some(std::time::Duration::from_millis(200));
    let client = OrochiClient::connect(o).await.unwrap();
    let payload = json!({"request_id": "abcde", "tool_name": "Bash", "description": "", "input_preview": "{}"});
    let ack = client.announce("abcde", Kind::PermissionRequest, payload).await.unwrap();
    let id = ack["permission_id"].as_str().unwrap().to_string();

    relay.cut();
    // Wait until the hub has seen the roamer go.
    for attempt in 0.. {
        let agents: Vec<Value> = http().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        if !agents.iter().any(|a| a["name"] == "roamer") {
            break;
        }
        assert!(attempt < 200, "the hub never saw the cut client go");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(answer(&h, &id, "allow", Some(ADMIN)).await.0, StatusCode::OK, "answered while the client is away");
    relay.restore();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(15), client.recv()).await.expect("the verdict after the reconnect").unwrap();
    assert_eq!((frame.kind.as_str(), frame.payload.get("behavior")), ("permission_verdict", Some(&json!("allow"))));
    assert_eq!(frame.payload.get("request_id"), Some(&json!("abcde")));
    client.close().await;
}

/// Approvers of the default workspace answer the admin token's agents; another workspace's do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_workspace_approvers_answer_the_admin_tokens_agents() {
    let h = start_hub().await;
    let all: Vec<Value> = http().get(h.http("/api/workspaces")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
    let default = all.iter().find(|w| w["name"] == "default").unwrap()["id"].as_str().unwrap().to_string();
    let carol = approver_token(&h, &default, "carol").await;
    let dave = lab(&h, "lab", &["dave"]).await.approvers.remove(0);
    let mut a = h.agent("admins-agent", &["#general"]).await;
    let id = asked(&mut a, "admins-agent", "f-1", "abcde").await;
    assert_eq!(list(&h, "", &carol).await.1[0]["id"], id.as_str());
    assert_eq!(list(&h, "", &dave).await.1, json!([]));
    assert_eq!(answer(&h, &id, "deny", Some(&dave)).await.0, StatusCode::NOT_FOUND);
    let (s, r) = answer(&h, &id, "deny", Some(&carol)).await;
    assert_eq!((s, r["answered_by"].as_str()), (StatusCode::OK, Some("carol")));
    assert_eq!(verdict(&mut a).await["payload"]["behavior"], "deny");
}
