//! Push: hub messages become `notifications/claude/channel` within a second, never for the
//! bridge's own messages, and none is lost or repeated across a hub restart.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn mentions_and_channel_messages_arrive_within_a_second_own_messages_never() {
    let hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "bridge", &[]).await;
    mcp.wait_connected().await;
    let peer = hub.peer("peer", &["#general", "#elsewhere"]).await;

    let t = Instant::now();
    let r = peer.send("#elsewhere", "@bridge can you look at this?", None).await.unwrap();
    let n = mcp.notification(SECOND).await.expect("a mention in a channel the bridge did not join arrives");
    assert!(t.elapsed() < SECOND);
    assert_eq!(n["content"], "@bridge can you look at this?");
    assert_eq!(n["meta"], json!({"chat_id": "#elsewhere", "user": "peer", "ts": n["meta"]["ts"], "msg_id": r.id}));
    for (k, v) in n["meta"].as_object().unwrap() {
        assert!(v.is_string() && !v.as_str().unwrap().is_empty(), "meta.{k} is a non-empty string");
    }

    // Its own messages are not pushed back (the next notification is the peer's).
    mcp.ok("orochi_send", json!({"channel": "#general", "message": "my own words"})).await;
    mcp.ok("reply", json!({"channel": "#general", "text": "@bridge talking to myself"})).await;
    peer.send("#general", "plain channel message", None).await.unwrap();
    let n = mcp.notification(SECOND).await.expect("a channel message arrives");
    assert_eq!(n["content"], "plain channel message");
    assert!(mcp.notification(Duration::from_millis(300)).await.is_none(), "nothing else");

    // Attachments are listed with absolute URLs.
    let meta = json!({"attachments": [{"filename": "a.png", "url": "/media/2026-01/x.png"}]});
    peer.send("#general", "with a file", meta.as_object().cloned()).await.unwrap();
    let n = mcp.notification(SECOND).await.unwrap();
    let expected = format!("with a file\n[Attachments: a.png -> {}]", hub.http("/media/2026-01/x.png"));
    assert_eq!(n["content"], expected.as_str());
    peer.close().await;
}

#[tokio::test]
async fn no_message_is_lost_or_repeated_across_a_hub_restart() {
    let mut hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "bridge", &[]).await;
    mcp.wait_connected().await;
    let peer = hub.peer("peer-before", &["#general"]).await;
    let mut expected = Vec::new();
    for i in 0..3 {
        let text = format!("@bridge before restart {i}");
        peer.send("#general", &text, None).await.unwrap();
        expected.push(text);
    }
    peer.close().await;
    hub.restart().await;
    // Sent as soon as the hub is back, most likely before the bridge has reconnected.
    let peer = hub.peer("peer-after", &["#general"]).await;
    for i in 0..3 {
        let text = format!("@bridge after restart {i}");
        peer.send("#general", &text, None).await.unwrap();
        expected.push(text);
    }
    let mut got = Vec::new();
    while let Some(n) = mcp.notification(Duration::from_secs(5)).await {
        got.push(n["content"].as_str().unwrap().to_string());
        if got.len() == expected.len() {
            break;
        }
    }
    assert!(mcp.notification(Duration::from_millis(500)).await.is_none(), "no duplicate after the replay");
    assert_eq!(got, expected);
    let status = mcp.wait_connected().await;
    assert!(status["reconnects"].as_u64().unwrap() >= 1, "{status}");
    // The task set before a restart is announced again after it.
    mcp.ok("task", json!({"task": "surviving restarts"})).await;
    hub.restart().await;
    mcp.wait_connected().await;
    let agents = hub.get("/api/agents").await;
    let me = agents.as_array().unwrap().iter().find(|a| a["name"] == "bridge").expect("re-registered").clone();
    assert_eq!(me["current_task"], "surviving restarts");
    peer.close().await;
}
