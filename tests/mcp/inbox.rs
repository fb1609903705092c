//! Mentions that waited for the bridge's agent are pushed when it comes back, once each.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// Waits until the hub no longer lists `name`.
async fn gone(hub: &Hub, name: &str) {
    for _ in 0..200 {
        let agents = hub.get("/api/agents").await;
        if !agents.as_array().unwrap().iter().any(|a| a["name"] == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} still listed");
}

async fn contents(mcp: &mut Mcp, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        // Generous: the bridge's reconnect backoff grows while the hub is down.
        let Some(note) = mcp.notification(Duration::from_secs(15)).await else { break };
        got.push(note["content"].as_str().unwrap().to_string());
    }
    got
}

#[tokio::test]
async fn an_offline_mention_is_pushed_once_after_the_bridge_comes_back() {
    let mut hub = Hub::start().await;
    // The bridge registers once, so the hub knows the name, then goes away.
    let (mut mcp, _) = Mcp::start(&hub, "bridge", &[]).await;
    mcp.wait_connected().await;
    drop(mcp);
    gone(&hub, "bridge").await;
    let peer = hub.peer("peer", &["#general"]).await;
    let r = peer.send("#elsewhere", "@bridge while you were away", None).await.unwrap();

    let (mut mcp, _) = Mcp::start(&hub, "bridge", &[]).await;
    mcp.wait_connected().await;
    let note = mcp.notification(Duration::from_secs(10)).await.expect("the waiting mention is pushed");
    assert_eq!(note["content"], "@bridge while you were away");
    assert_eq!(note["meta"]["msg_id"], Value::from(r.id.as_str()));
    assert_eq!(note["meta"]["chat_id"], "#elsewhere");
    assert!(mcp.notification(Duration::from_millis(500)).await.is_none(), "once");

    // The same bridge process reconnecting after a hub restart: a mention in a channel it did
    // not join, sent while it is away (or just back), is pushed once, as is one in its channel.
    peer.close().await;
    hub.restart().await;
    let peer = hub.peer("peer", &["#general"]).await;
    peer.send("#elsewhere", "@bridge during the restart", None).await.unwrap();
    peer.send("#general", "@bridge in my channel", None).await.unwrap();
    let mut got = contents(&mut mcp, 2).await;
    got.sort();
    assert_eq!(got, ["@bridge during the restart", "@bridge in my channel"]);
    assert!(mcp.notification(Duration::from_millis(500)).await.is_none(), "no duplicate from the inbox and the resume");
    peer.close().await;
}
