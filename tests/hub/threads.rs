//! Replies, threads and `@all`: a reply names its parent's hub `msg_id` in `metadata.reply_to`
//! and the hub keeps and forwards it as sent; one thread can be read over REST and the
//! socket, within the reader's tenancy; `@all` reaches every agent member of the channel once,
//! an offline one through its inbox; `/api/stats` counts push subscriptions.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use web_push_native::p256::{self, elliptic_curve::sec1::ToEncodedPoint};

use crate::common::*;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(h: &TestHub, path: &str, token: &str) -> (StatusCode, Value) {
    let r = http().get(h.http(path)).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Sends a message with metadata and returns its ack.
async fn say_meta(p: &mut Peer, sender: &str, channel: &str, content: &str, metadata: Value) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    p.send(json!({"type": "message", "sender": sender, "id": id, "payload": {"channel": channel, "content": content, "metadata": metadata}}))
        .await;
    let ack = p.recv_until(|f| f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ack
}

fn msg_id(ack: &Value) -> String {
    ack["payload"]["msg_id"].as_str().unwrap_or_else(|| panic!("an ack with msg_id: {ack}")).to_string()
}

fn contents(rows: &Value) -> Vec<&str> {
    rows.as_array().unwrap().iter().map(|r| r["content"].as_str().unwrap()).collect()
}

/// The next `message` frame on the socket.
async fn next_message(p: &mut Peer) -> Value {
    p.recv_until(|f| f["type"] == "message").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_carries_its_parent_and_a_thread_reads_alone() {
    let h = start_hub().await;
    let mut asker = h.agent("asker", &["#lab"]).await;
    let mut helper = h.agent("helper", &["#lab"]).await;

    let root = msg_id(&asker.say("asker", "#lab", "can someone plot run 7?").await);
    let seen = next_message(&mut helper).await;
    assert_eq!(seen["id"], root.as_str(), "the live frame's id is the stored msg_id");

    // Metadata is kept exactly as sent, extra keys included, and forwarded to the channel.
    let meta = json!({"reply_to": root, "kind": "answer", "nested": {"n": 1}});
    let reply = msg_id(&say_meta(&mut helper, "helper", "#lab", "on it", meta.clone()).await);
    let got = next_message(&mut asker).await;
    assert_eq!((got["id"].as_str(), &got["payload"]["metadata"]), (Some(reply.as_str()), &meta));

    // A reply to the reply belongs to the same thread; other messages do not.
    asker.say("asker", "#lab", "unrelated chatter").await;
    say_meta(&mut asker, "asker", "#lab", "thanks!", json!({"reply_to": reply})).await;
    say_meta(&mut asker, "asker", "#lab", "broken parent", json!({"reply_to": "no-such-id"})).await;

    let (s, rows) = get(&h, &format!("/api/history/lab?thread={root}"), ADMIN).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(contents(&rows), ["can someone plot run 7?", "on it", "thanks!"], "oldest first");
    assert_eq!(rows[1]["metadata"], meta, "history keeps the metadata as sent");
    let (_, page) = get(&h, &format!("/api/history/lab?thread={root}&limit=1&after_seq={}", rows[0]["seq"]), ADMIN).await;
    assert_eq!(contents(&page), ["on it"]);
    let (_, orphans) = get(&h, "/api/history/lab?thread=no-such-id", ADMIN).await;
    assert_eq!(contents(&orphans), ["broken parent"], "replies to a missing root still form its thread");
    let (_, none) = get(&h, "/api/history/lab?thread=never-used", ADMIN).await;
    assert_eq!(none, json!([]));
    let (s, err) = get(&h, &format!("/api/history/lab?thread={}", "x".repeat(129)), ADMIN).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(err["error"].as_str().unwrap().contains("thread"), "{err}");

    // The socket's query frame reads the same thread.
    asker.send(json!({"type": "query", "id": "q-thread", "payload": {"channel": "#lab", "thread": root}})).await;
    let answer = asker.recv_until(|f| f["type"] == "message" && f["payload"]["ref"] == "q-thread").await;
    assert_eq!(contents(&answer["payload"]["history"]), ["can someone plot run 7?", "on it", "thanks!"]);
    asker.send(json!({"type": "query", "id": "q-bad", "payload": {"channel": "#lab", "thread": "y".repeat(200)}})).await;
    let bad = asker.recv_until(|f| f["type"] == "error" && f["payload"]["ref"] == "q-bad").await;
    assert!(bad["payload"]["detail"].as_str().unwrap().contains("thread"), "{bad}");

    // Tenancy: another workspace's token reads none of it.
    let other = h.workspace_token("elsewhere").await;
    let (s, rows) = get(&h, &format!("/api/history/lab?thread={root}"), &other).await;
    assert_eq!((s, rows), (StatusCode::OK, json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_all_reaches_every_agent_of_the_channel_once() {
    let h = start_hub().await;
    let mut a = h.agent("alpha", &["#team"]).await;
    let mut b = h.agent("beta", &["#team"]).await;
    let mut c = h.agent("gamma", &["#team", "#other"]).await;
    let mut outsider = h.agent("outsider", &["#other"]).await;
    // A member that is offline when @all is sent.
    let mut sleeper = h.agent("sleeper", &["#team"]).await;
    drop(sleeper);
    for _ in 0..200 {
        let (_, ch) = get(&h, "/api/channels", ADMIN).await;
        if !ch["#team"].as_array().unwrap().iter().any(|m| m == "sleeper") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // From the dashboard (REST), naming beta twice over: @all and @beta.
    let r = http()
        .post(h.http("/api/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"sender": "ywatanabe", "payload": {"channel": "#team", "content": "@all standup now, @beta too"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let marker = "after the standup call";
    http()
        .post(h.http("/api/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"sender": "ywatanabe", "payload": {"channel": "#team", "content": marker}}))
        .send()
        .await
        .unwrap();
    for (name, p) in [("alpha", &mut a), ("beta", &mut b), ("gamma", &mut c)] {
        let first = next_message(p).await;
        assert_eq!(first["payload"]["content"], "@all standup now, @beta too", "{name}");
        let second = next_message(p).await;
        assert_eq!(second["payload"]["content"], marker, "{name} got the @all message once");
    }
    // The stored row names every member the mention reached (the sender is not a member).
    let (_, rows) = get(&h, "/api/history/team?limit=2", ADMIN).await;
    let mut named: Vec<&str> = rows[1]["mentions"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    named.sort();
    assert_eq!(named, ["alpha", "beta", "gamma", "sleeper"]);

    // An agent's @all reaches the others, not itself; the outsider hears nothing of #team.
    a.say("alpha", "#team", "@ALL done here").await;
    for p in [&mut b, &mut c] {
        assert_eq!(next_message(p).await["payload"]["content"], "@ALL done here");
    }
    outsider.say("outsider", "#other", "only #other").await;
    assert_eq!(next_message(&mut c).await["payload"]["content"], "only #other");
    outsider.expect_silence(Duration::from_millis(200)).await;

    // The offline member finds both @all messages in its inbox at its next register.
    sleeper = h.raw(ADMIN).await;
    sleeper.register("sleeper", &[]).await;
    let mut waiting = Vec::new();
    loop {
        let f = sleeper.recv().await;
        match f["type"].as_str() {
            Some("message") => {
                assert_eq!(f["payload"]["inbox"], true, "{f}");
                waiting.push(f["payload"]["content"].as_str().unwrap().to_string());
            }
            Some("inbox") => {
                assert_eq!(f["payload"]["delivered"], 2, "{f}");
                break;
            }
            _ => {}
        }
    }
    assert_eq!(waiting, ["@all standup now, @beta too", "@ALL done here"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_all_stays_within_the_senders_workspace() {
    let h = start_hub().await;
    let lab = h.workspace_token("lab").await;
    let mut mine = h.raw(&lab).await;
    mine.register("lab-agent", &["#shared"]).await;
    let mut peer = h.raw(&lab).await;
    peer.register("lab-peer", &["#shared"]).await;
    let mut foreign = h.agent("admin-agent", &["#shared"]).await;

    mine.say("lab-agent", "#shared", "@all lab only").await;
    assert_eq!(next_message(&mut peer).await["payload"]["content"], "@all lab only");
    foreign.say("admin-agent", "#shared", "marker").await;
    let (_, rows) = get(&h, "/api/history/shared?limit=2", ADMIN).await;
    assert_eq!(rows[1]["mentions"], json!(["lab-peer"]), "no other workspace's agent is named");
    // The admin's agent is on the channel but outside the lab's audience.
    foreign.expect_silence(Duration::from_millis(200)).await;
}

/// A push subscription owned by an agent member's name is notified of `@all` as of `@name`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_all_is_pushed_to_the_members_names() {
    let h = start_hub().await;
    let member = h.agent("member-bot", &["#team"]).await;
    drop(member);
    let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let public = URL_SAFE_NO_PAD.encode(key.public_key().to_encoded_point(false).as_bytes());
    let auth = [3u8; 16];
    let (endpoint, fake) = crate::push::fake_push_service().await;
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": public, "auth": URL_SAFE_NO_PAD.encode(auth)}, "name": "member-bot"});
    let r = http().post(h.http("/api/push/subscribe")).bearer_auth(ADMIN).json(&sub).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut sender = h.agent("lead", &["#team"]).await;
    sender.say("lead", "#team", "@all ship it").await;
    crate::push::wait_for(&fake, 1).await;
    let (headers, body) = fake.lock().unwrap().received[0].clone();
    assert_eq!(headers["urgency"], "high", "a mention, not a channel message");
    let note: Value = serde_json::from_slice(&web_push_native::decrypt(body, &key, &auth.into()).unwrap()).unwrap();
    assert_eq!((note["title"].as_str(), note["body"].as_str()), (Some("lead mentioned you in #team"), Some("@all ship it")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_push_subscriptions() {
    let h = start_hub().await;
    let (_, st) = get(&h, "/api/stats", ADMIN).await;
    assert_eq!(st["push_subscriptions"], 0);
    let lab = h.workspace_token("lab").await;
    for (i, token) in [ADMIN, ADMIN, &lab].into_iter().enumerate() {
        let key = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let public = URL_SAFE_NO_PAD.encode(key.public_key().to_encoded_point(false).as_bytes());
        let sub = json!({"endpoint": format!("https://push.example.org/device-{i}"), "keys": {"p256dh": public, "auth": URL_SAFE_NO_PAD.encode([i as u8; 16])}, "name": format!("person-{i}")});
        let r = http().post(h.http("/api/push/subscribe")).bearer_auth(token).json(&sub).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let (_, st) = get(&h, "/api/stats", ADMIN).await;
    assert_eq!(st["push_subscriptions"], 3, "the admin counts every subscription");
    let (_, st) = get(&h, "/api/stats", &lab).await;
    assert_eq!(st["push_subscriptions"], 1, "a workspace counts its own");
    let r = http().post(h.http("/api/push/unsubscribe")).bearer_auth(ADMIN).json(&json!({"endpoint": "https://push.example.org/device-0"})).send().await.unwrap();
    assert!(r.status().is_success());
    let (_, st) = get(&h, "/api/stats", ADMIN).await;
    assert_eq!(st["push_subscriptions"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_check_follows_the_hubs_rules() {
    let h = start_hub().await;
    let lab = h.workspace_token("lab").await;
    let mut p = h.raw(&lab).await;
    p.register("lab-bot", &[]).await;
    let check = |name: &str, token: &str| {
        let url = h.http(&format!("/api/names/check/{}", urlencoding(name)));
        let token = token.to_string();
        async move {
            let r = http().get(url).bearer_auth(token).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(check("ywatanabe", ADMIN).await, (StatusCode::OK, json!({"name": "ywatanabe", "ok": true, "held": false})));
    assert_eq!(check("lab-bot", &lab).await.1["held"], true);
    let (s, e) = check("lab-bot", ADMIN).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    for bad in ["all", "ALL", "has space", "-dash", "é", &"n".repeat(129)] {
        let (s, e) = check(bad, ADMIN).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
        assert!(e["error"].is_string(), "{e}");
    }
    let r = http().get(h.http("/api/names/check/someone")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// Percent-encodes a path segment (spaces and non-ASCII in the refused names above).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
