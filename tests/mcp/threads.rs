//! Threads through the bridge: a pushed reply names its parent (`meta.reply_to`), `reply`
//! sets `metadata.reply_to`, and `orochi_history` with `thread` reads one thread, oldest first.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::harness::*;

const WAIT: Duration = Duration::from_secs(5);

fn reply_to(id: &str) -> Option<Map<String, Value>> {
    json!({"reply_to": id}).as_object().cloned()
}

#[tokio::test]
async fn replies_carry_their_parent_and_a_thread_reads_alone() {
    let hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "bridge", &[]).await;
    mcp.wait_connected().await;
    let peer = hub.peer("peer", &["#general"]).await;

    let root = peer.send("#general", "which run failed?", None).await.unwrap();
    let root_id = root.id.clone();
    let n = mcp.notification(WAIT).await.expect("the question arrives");
    assert_eq!(n["meta"]["msg_id"], root_id.as_str());
    assert!(n["meta"].get("reply_to").is_none(), "a message that answers nothing names no parent: {n}");

    let answer = mcp.ok("reply", json!({"chat_id": "#general", "text": "run 12", "reply_to": root_id})).await;
    let answer_id = answer["id"].as_str().unwrap_or_else(|| panic!("reply answers its msg_id: {answer}")).to_string();
    peer.send("#general", "unrelated", None).await.unwrap();
    peer.send("#general", "thanks", reply_to(&answer_id)).await.unwrap();

    let unrelated = mcp.notification(WAIT).await.expect("the unrelated message");
    assert!(unrelated["meta"].get("reply_to").is_none());
    let thanks = mcp.notification(WAIT).await.expect("the reply to the reply");
    assert_eq!((thanks["content"].as_str(), thanks["meta"]["reply_to"].as_str()), (Some("thanks"), Some(answer_id.as_str())));

    let thread = mcp.ok("orochi_history", json!({"channel": "#general", "thread": root_id})).await;
    let got: Vec<(&str, Option<&str>)> =
        thread["messages"].as_array().unwrap().iter().map(|m| (m["content"].as_str().unwrap(), m["reply_to"].as_str())).collect();
    assert_eq!(got, [("which run failed?", None), ("run 12", Some(root_id.as_str())), ("thanks", Some(answer_id.as_str()))]);
    peer.close().await;
}
