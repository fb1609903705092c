//! Web Push end to end: a fake push service on 127.0.0.1 receives the notification for an
//! @mention, the test decrypts it (RFC 8291) and checks it; a 410 removes the subscription.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use web_push_native::p256::{self, elliptic_curve::sec1::ToEncodedPoint};

use crate::common::*;

#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) received: Vec<(HeaderMap, Vec<u8>)>,
    /// Status codes to answer, in order; 201 when empty.
    pub answers: Vec<u16>,
}

pub(crate) async fn fake_push_service() -> (String, Arc<Mutex<Fake>>) {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let app = axum::Router::new()
        .route(
            "/push/{id}",
            axum::routing::post(|State(f): State<Arc<Mutex<Fake>>>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let mut f = f.lock().unwrap();
                f.received.push((headers, body.to_vec()));
                let code = if f.answers.is_empty() { 201 } else { f.answers.remove(0) };
                StatusCode::from_u16(code).unwrap()
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push/device-1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, fake)
}

pub(crate) async fn wait_for(fake: &Arc<Mutex<Fake>>, n: usize) {
    for _ in 0..100 {
        if fake.lock().unwrap().received.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the push service got {} requests, wanted {n}", fake.lock().unwrap().received.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mention_is_pushed_encrypted_and_410_unsubscribes() {
    let h = start_hub().await;
    let http = reqwest::Client::new();
    let key: Value = http.get(h.http("/api/push/vapid-key")).send().await.unwrap().json().await.unwrap();
    let vapid_public = URL_SAFE_NO_PAD.decode(key["public_key"].as_str().unwrap()).unwrap();
    assert_eq!((vapid_public.len(), vapid_public[0]), (65, 4), "uncompressed P-256 point");

    // The browser's side: its key pair and auth secret.
    let ua_secret = p256::SecretKey::random(&mut rand_core_rng());
    let ua_public = URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_encoded_point(false).as_bytes());
    let auth = [7u8; 16];
    let (endpoint, fake) = fake_push_service().await;
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": ua_public, "auth": URL_SAFE_NO_PAD.encode(auth)}, "name": "yusuke"});
    let r = http.post(h.http("/api/push/subscribe")).bearer_auth(ADMIN).json(&sub).send().await.unwrap();
    assert_eq!(r.status(), 201);
    for bad in [json!({"endpoint": endpoint}), json!({"endpoint": "ftp://x", "keys": {"p256dh": ua_public, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}), json!({"endpoint": endpoint, "keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}})] {
        let r = http.post(h.http("/api/push/subscribe")).bearer_auth(ADMIN).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    let mut agent = h.agent("builder", &["#ops"]).await;
    agent.say("builder", "#ops", "no mention, no push").await;
    agent.say("builder", "#ops", "@yusuke the deploy finished").await;
    wait_for(&fake, 1).await;
    let (headers, body) = fake.lock().unwrap().received[0].clone();
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert_eq!(headers["urgency"], "high");
    assert_eq!(headers["ttl"], "86400");
    assert_eq!(headers["topic"].to_str().unwrap(), scitex_orochi::hub::features::push::topic("#ops"));
    assert!(headers["authorization"].to_str().unwrap().starts_with("vapid t="));
    let plain = web_push_native::decrypt(body, &ua_secret, &auth.into()).expect("decrypts with the browser's keys");
    let note: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(note["title"], "builder mentioned you in #ops");
    assert_eq!(note["body"], "@yusuke the deploy finished");
    assert_eq!(note["tag"], "orochi-#ops");

    // The person's own messages do not notify them.
    let mut me = h.agent("yusuke", &["#ops"]).await;
    me.say("yusuke", "#ops", "@yusuke note to self").await;
    // The device is gone: 410 removes the subscription.
    fake.lock().unwrap().answers = vec![410];
    agent.say("builder", "#ops", "@yusuke again").await;
    wait_for(&fake, 2).await;
    // One worker pushes in commit order: a push for the sender's own message would be second.
    let (_, body) = fake.lock().unwrap().received[1].clone();
    let note: Value = serde_json::from_slice(&web_push_native::decrypt(body, &ua_secret, &auth.into()).unwrap()).unwrap();
    assert_eq!(note["body"], "@yusuke again", "no push for the sender's own message");
    let subscription = || async {
        let url = h.http(&format!("/api/push/subscription?endpoint={endpoint}"));
        http.get(url).bearer_auth(ADMIN).send().await.unwrap().json::<Value>().await.unwrap()
    };
    eventually("unsubscribed after the 410", || async { subscription().await["subscribed"] == false }).await;
    assert_eq!(subscription().await["total_subscriptions"], 0);
    assert_eq!(fake.lock().unwrap().received.len(), 2);
}

/// A workspace's browser hears its own workspace's agents, not another's (as they would live).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_subscription_hears_only_its_workspace() {
    let h = start_hub().await;
    let http = reqwest::Client::new();
    let wks = h.workspace_token("lab").await;
    let ua_secret = p256::SecretKey::random(&mut rand_core_rng());
    let ua_public = URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_encoded_point(false).as_bytes());
    let auth = [9u8; 16];
    let (endpoint, fake) = fake_push_service().await;
    let sub = json!({"endpoint": endpoint, "keys": {"p256dh": ua_public, "auth": URL_SAFE_NO_PAD.encode(auth)}, "name": "lab-human", "channels": ["#shared"]});
    let r = http.post(h.http("/api/push/subscribe")).bearer_auth(&wks).json(&sub).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let mut outsider = h.agent("outsider", &["#shared"]).await;
    assert_eq!(outsider.say("outsider", "#shared", "@lab-human from outside").await["type"], "ack");
    let mut insider = h.raw(&wks).await;
    insider.register("insider", &["#shared"]).await;
    assert_eq!(insider.say("insider", "#shared", "@lab-human from the lab").await["type"], "ack");
    // The admin posting without a name reaches every workspace, live and by push.
    let posted = json!({"sender": "user", "payload": {"channel": "#shared", "content": "@lab-human from the admin"}});
    assert_eq!(http.post(h.http("/api/messages")).bearer_auth(ADMIN).json(&posted).send().await.unwrap().status(), 201);
    // One worker pushes in commit order: a push for the other workspace's message would be
    // among the first two.
    wait_for(&fake, 2).await;
    let received = fake.lock().unwrap().received.clone();
    assert_eq!(received.len(), 2, "two pushes: the lab's message and the admin's, not the other workspace's");
    let mut bodies: Vec<String> = received
        .iter()
        .map(|r| {
            let plain = web_push_native::decrypt(r.1.clone(), &ua_secret, &auth.into()).unwrap();
            serde_json::from_slice::<Value>(&plain).unwrap()["body"].as_str().unwrap().to_string()
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["@lab-human from the admin", "@lab-human from the lab"]);
}

pub fn rand_core_rng() -> impl p256::elliptic_curve::rand_core::CryptoRngCore {
    p256::elliptic_curve::rand_core::OsRng
}
