//! Hostile and malformed input: each is answered as designed, and another client keeps working.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

/// (frame text, expected error code)
const TABLE: &[(&str, &str)] = &[
    ("not json", "PARSE_ERROR"),
    ("[1,2,3]", "INVALID_FRAME"),
    ("42", "INVALID_FRAME"),
    ("null", "INVALID_FRAME"),
    ("\"a string\"", "INVALID_FRAME"),
    (r#"{"payload":{}}"#, "PARSE_ERROR"),
    (r#"{"type":null}"#, "PARSE_ERROR"),
    (r#"{"type":7}"#, "INVALID_FRAME"),
    (r#"{"type":"message","payload":"text"}"#, "INVALID_FRAME"),
    (r#"{"type":"message","payload":[1]}"#, "INVALID_FRAME"),
    (r#"{"type":"message","payload":null}"#, "INVALID_FRAME"),
    (r#"{"type":"message"}"#, "INVALID_FRAME"),
    (r##"{"type":"message","payload":{"content":"no channel"}}"##, "INVALID_FRAME"),
    (r##"{"type":"status_update","payload":{"role":"rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"}}"##, "FIELD_TOO_LARGE"),
    (r##"{"type":"message","payload":{"channel":5,"content":"x"}}"##, "INVALID_FRAME"),
    (r##"{"type":"message","payload":{"channel":"#g","content":{"a":1}}}"##, "INVALID_FRAME"),
    (r##"{"type":"message","payload":{"channel":"#g","content":"x","metadata":[1]}}"##, "INVALID_FRAME"),
    (r##"{"type":"message","payload":{"channel":"#g","content":"x","attachments":"no"}}"##, "INVALID_FRAME"),
    (r#"{"type":"message","sender":{"evil":true},"payload":{}}"#, "INVALID_FRAME"),
    (r#"{"type":"message","id":12,"payload":{}}"#, "INVALID_FRAME"),
    (r#"{"type":"register","sender":"x","payload":{"channels":null}}"#, "__ACK__"),
    (r##"{"type":"register","sender":"x","payload":{"channels":"#g"}}"##, "INVALID_FRAME"),
    (r#"{"type":"register","sender":"x","payload":{"channels":[1,2]}}"#, "INVALID_FRAME"),
    (r#"{"type":"register","sender":"has space","payload":{}}"#, "INVALID_NAME"),
    (r#"{"type":"register","sender":"orochi-server","payload":{}}"#, "INVALID_NAME"),
    (r##"{"type":"query","payload":{"channel":"#g","limit":null}}"##, "__ACK__"),
    (r##"{"type":"query","payload":{"channel":"#g","limit":"ten"}}"##, "INVALID_FRAME"),
    (r##"{"type":"query","payload":{"channel":["#g"]}}"##, "INVALID_FRAME"),
    (r#"{"type":"subscribe","payload":{"channel":""}}"#, "INVALID_FRAME"),
    (r#"{"type":"status_update","payload":{"status":5}}"#, "INVALID_FRAME"),
    (r#"{"type":"¯\\_(ツ)_/¯"}"#, "UNKNOWN_TYPE"),
];

#[tokio::test]
async fn malformed_frames_are_answered_and_harm_no_one() {
    let h = start_hub().await;
    let mut bystander = h.agent("bystander", &["#general"]).await;
    let mut friend = h.agent("friend", &["#general"]).await;
    let mut bad = h.agent("mallory", &[]).await;
    for (i, (text, expected)) in TABLE.iter().enumerate() {
        bad.send_text(text).await;
        let reply = bad.recv().await;
        if *expected == "__ACK__" {
            if text.contains("query") {
                assert_eq!(reply["payload"]["history"], json!([]), "{text} -> {reply}");
                assert_eq!(bad.recv().await["type"], "ack");
            } else {
                assert_eq!(reply["type"], "ack", "{text} -> {reply}");
                // That register renamed the socket; take the name back.
                bad.register("mallory", &[]).await;
            }
        } else {
            assert_eq!(reply["type"], "error", "{text} -> {reply}");
            assert_eq!(reply["payload"]["code"], *expected, "{text} -> {reply}");
            assert!(reply["payload"]["detail"].as_str().is_some_and(|d| !d.is_empty()));
            if *expected == "UNKNOWN_TYPE" {
                bad.recv_until(|f| f["type"] == "ack").await;
            }
        }
        // The bystander keeps working after every bad frame.
        let ack = friend.say("friend", "#general", &format!("still fine {i}")).await;
        assert_eq!(ack["type"], "ack");
        let got = bystander.recv_until(|f| f["type"] == "message").await;
        assert_eq!(got["payload"]["content"], format!("still fine {i}"));
    }
}

#[tokio::test]
async fn oversized_frames_and_content() {
    let h = start_hub_with(|c| {
        c.max_frame_bytes = 64 * 1024;
        c.max_content_bytes = 1024;
    })
    .await;
    let mut other = h.agent("other", &["#general"]).await;
    let mut a = h.agent("alice", &["#general"]).await;
    let big = "x".repeat(100 * 1024);
    a.send(json!({"type": "message", "id": "big", "payload": {"channel": "#general", "content": big}})).await;
    assert_eq!(a.recv().await["payload"]["code"], "FRAME_TOO_LARGE");
    let ack = a.say("alice", "#general", &"y".repeat(2000)).await;
    assert_eq!(ack["payload"]["code"], "CONTENT_TOO_LARGE");
    assert_eq!(a.say("alice", "#general", "small").await["type"], "ack", "the socket stays usable");
    assert_eq!(other.recv_until(|f| f["type"] == "message").await["payload"]["content"], "small");
    // Beyond four times the limit the socket is closed with 1009; others are unaffected.
    let huge = "z".repeat(300 * 1024);
    a.send_text(&huge).await;
    assert_eq!(a.closed_with().await, 1009);
    let mut b = h.agent("bob", &[]).await;
    b.say("bob", "#general", "after").await;
    assert_eq!(other.recv_until(|f| f["type"] == "message").await["payload"]["content"], "after");
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let h = start_hub().await;
    let mut a = h.agent("alice", &[]).await;
    a.ws.send(Message::binary(vec![0xff, 0xfe, b'{', 0xc3])).await.unwrap();
    assert_eq!(a.recv().await["payload"]["code"], "PARSE_ERROR");
    // A binary frame with valid UTF-8 JSON is handled like text, as the reference.
    a.ws.send(Message::binary(br#"{"type":"presence","id":"bin"}"#.to_vec())).await.unwrap();
    assert_eq!(a.recv().await["type"], "presence");
}

#[tokio::test]
async fn senders_cannot_be_spoofed() {
    let h = start_hub().await;
    let mut victim = h.agent("victim", &["#general"]).await;
    let mut a = h.agent("alice", &["#general"]).await;
    let r = a.say("victim", "#general", "I am the victim").await;
    assert_eq!(r["payload"]["code"], "SENDER_MISMATCH");
    // Another socket of the same workspace (the CLI beside the bridge) may send as it; another
    // workspace may not (more in tests/attack/names.rs).
    let mut anon = h.raw(ADMIN).await;
    let r = anon.say("victim", "#general", "me too").await;
    assert_eq!(r["type"], "ack", "{r}");
    let mut stranger = h.raw(&h.workspace_token("other").await).await;
    let r = stranger.say("victim", "#general", "me three").await;
    assert_eq!(r["payload"]["code"], "NAME_TAKEN");
    // A registered socket that omits sender speaks as itself.
    a.send(json!({"type": "message", "id": "nos", "payload": {"channel": "#general", "content": "implicit"}})).await;
    a.recv_until(|f| f["payload"]["ref"] == "nos").await;
    let got = victim.recv_until(|f| f["type"] == "message").await;
    assert_eq!((got["sender"].as_str(), got["payload"]["content"].as_str()), (Some("alice"), Some("implicit")));
    // Acting on another agent's membership is impossible: subscribe acts on the socket's own name.
    anon.send(json!({"type": "subscribe", "sender": "victim", "id": "s", "payload": {"channel": "#x"}})).await;
    assert_eq!(anon.recv().await["payload"]["code"], "NOT_REGISTERED");
}

#[tokio::test]
async fn a_slow_consumer_is_cut_and_does_not_delay_others() {
    let h = start_hub_with(|c| c.queue_frames = 64).await;
    // The slow peer never reads; its socket buffers fill, then its queue.
    let mut slow = h.agent("slow", &["#firehose"]).await;
    let mut fast = h.agent("fast", &["#firehose"]).await;
    let mut sender = h.agent("sender", &[]).await;
    let payload = "p".repeat(16 * 1024);
    let n = 400;
    // The fast consumer reads all the time; the slow one never does.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < n {
            if fast.recv().await["type"] == "message" {
                received += 1;
            }
        }
        received
    });
    for i in 0..n {
        sender.send(json!({"type": "message", "payload": {"channel": "#firehose", "content": format!("{i} {payload}")}})).await;
        // The sender reads its acks as it goes, so only the silent peer falls behind.
        if i % 32 == 31 {
            for _ in 0..32 {
                sender.recv_until(|f| f["type"] == "ack").await;
            }
        }
    }
    assert_eq!(reader.await.unwrap(), n, "the fast consumer got everything");
    let code = tokio::time::timeout(Duration::from_secs(10), slow.closed_with()).await.expect("slow peer is cut");
    assert_eq!(code, 4008);
    let m = reqwest::Client::new().get(h.http("/metrics")).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    assert!(m.contains("orochi_slow_consumers_total 1"), "{m}");
}
