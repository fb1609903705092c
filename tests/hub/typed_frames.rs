//! Frames are read into typed commands, and what the hub does not read survives: a message's
//! payload keys and metadata reach recipients and the history as the sender wrote them,
//! whichever way it came in (agent socket, observer socket, REST). A frame with several
//! faults is told about the first check it always met.

use serde_json::{Value, json};

use crate::common::*;

/// The keys a message carries beyond the ones the hub reads.
fn extras(via: &str) -> Value {
    json!({"reply_to": format!("root-{via}"), "nested": {"list": [1, 2.5, "three"], "flag": true}})
}

async fn history(h: &TestHub) -> Vec<Value> {
    reqwest::Client::new().get(h.http("/api/history/kept?limit=10")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_payload_fields_are_forwarded_and_stored_as_sent() {
    let h = start_hub().await;
    let mut listener = h.agent("listener", &["#kept"]).await;
    let mut sender = h.agent("sender", &["#kept"]).await;

    sender
        .send(json!({"type": "message", "sender": "sender", "id": "m-socket", "payload": {
            "channel": "#kept", "text": "via socket", "metadata": extras("socket"), "client_key": {"mine": 1}}}))
        .await;
    assert_eq!(sender.recv_until(|f| f["payload"]["ref"] == "m-socket").await["type"], "ack");
    let live = listener.recv_until(|f| f["type"] == "message").await;
    let payload = live["payload"].as_object().unwrap();
    assert_eq!(payload.keys().collect::<Vec<_>>(), ["channel", "text", "metadata", "client_key", "content"], "{live}");
    assert_eq!((payload["content"].as_str(), &payload["metadata"], &payload["client_key"]), (Some("via socket"), &extras("socket"), &json!({"mine": 1})));

    let observer_url = format!("{}?token={ADMIN}", h.http("/ws").replace("http", "ws"));
    let mut observer = Peer::connect(&observer_url).await;
    observer.send(json!({"type": "message", "sender": "dash", "payload": {"channel": "#kept", "content": "via observer", "metadata": extras("observer")}})).await;
    let live = listener.recv_until(|f| f["type"] == "message").await;
    assert_eq!(live["payload"]["metadata"], extras("observer"));

    let body = json!({"sender": "rest", "payload": {"channel": "#kept", "content": "via rest", "metadata": extras("rest")}});
    let r = reqwest::Client::new().post(h.http("/api/messages")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let live = listener.recv_until(|f| f["type"] == "message").await;
    assert_eq!(live["payload"]["metadata"], extras("rest"));

    let rows = history(&h).await;
    let stored: Vec<(&str, &Value)> = rows.iter().map(|r| (r["content"].as_str().unwrap(), &r["metadata"])).collect();
    assert_eq!(stored.len(), 3, "{rows:?}");
    for (content, via) in [("via socket", "socket"), ("via observer", "observer"), ("via rest", "rest")] {
        assert!(stored.contains(&(content, &extras(via))), "{content} stored with its metadata: {rows:?}");
    }
}

/// An unregistered socket's `subscribe` with no channel: NOT_REGISTERED, the check that
/// always came first, not the payload's INVALID_FRAME.
#[tokio::test]
async fn the_first_fault_is_the_one_told() {
    let h = start_hub().await;
    let mut p = h.raw(ADMIN).await;
    p.send(json!({"type": "subscribe", "id": "s", "payload": {}})).await;
    assert_eq!(p.recv_until(|f| f["payload"]["ref"] == "s").await["payload"]["code"], "NOT_REGISTERED");
    // A heartbeat before register is acked unread, whatever it carries.
    p.send(json!({"type": "heartbeat", "id": "hb", "payload": {"current_task": 5}})).await;
    assert_eq!(p.recv_until(|f| f["payload"]["ref"] == "hb").await["type"], "ack");
    p.register("late", &[]).await;
    p.send(json!({"type": "heartbeat", "id": "hb2", "payload": {"current_task": 5}})).await;
    let e = p.recv_until(|f| f["payload"]["ref"] == "hb2").await;
    assert_eq!((e["payload"]["code"].as_str(), e["payload"]["detail"].as_str()), (Some("INVALID_FRAME"), Some("payload.current_task must be a string")));
    // A type clients do not send: UNKNOWN_TYPE, then the reference's ack.
    p.send(json!({"type": "presence_change", "id": "pc"})).await;
    assert_eq!(p.recv_until(|f| f["payload"]["ref"] == "pc").await["payload"]["code"], "UNKNOWN_TYPE");
    assert_eq!(p.recv_until(|f| f["payload"]["ref"] == "pc").await["type"], "ack");
}
