//! Inbox floods: a tenant mentioning offline names as fast as it may costs the hub a bounded
//! inbox per name, never another workspace's agent, and the hub keeps serving.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::common::Peer;
use crate::harness::*;

/// Sends `n` messages with `content(i)` and waits for every ack.
async fn flood(p: &mut Peer, sender: &str, n: usize, content: impl Fn(usize) -> String) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        p.send(json!({"type": "message", "sender": sender, "id": uuid::Uuid::new_v4().to_string(), "payload": {"channel": "#flood", "content": content(i)}})).await;
    }
    for _ in 0..n {
        let f = p.recv_until(|f| f["type"] == "ack" || f["type"] == "error").await;
        assert_eq!(f["type"], "ack", "{f}");
    }
    t.elapsed()
}

async fn take(p: &mut Peer, name: &str) -> (usize, Value) {
    p.register(name, &[]).await;
    let mut n = 0;
    loop {
        let f = p.recv().await;
        match f["type"].as_str() {
            Some("message") => n += 1,
            Some("inbox") => return (n, f["payload"].clone()),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_mention_flood_fills_a_bounded_inbox_and_never_another_workspace() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_INBOX_MAX", "50"), ("SCITEX_OROCHI_RATE_MESSAGES_PER_SEC", "0")]).await;
    let (_, tenant) = workspace(&hub, "tenant").await;
    let (_, victim) = workspace(&hub, "victim").await;
    // The victim's name, offline; the tenant's own names, offline.
    let names: Vec<String> = (0..100).map(|i| format!("mine-{i}")).collect();
    drop(hub.agent_with(&victim, "target", &[]).await);
    let mut claimer = hub.raw(&tenant).await;
    for n in &names {
        let ack = claimer.say(n, "#claims", "claiming").await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let mut attacker = hub.agent_with(&tenant, "attacker", &[]).await;

    let plain = flood(&mut attacker, "attacker", 1000, |i| format!("plain {i}")).await;
    let every: String = names.iter().map(|n| format!("@{n} ")).collect();
    let wide = flood(&mut attacker, "attacker", 200, |i| format!("{every}@target {i}")).await;
    println!(
        "1000 messages without mentions: {plain:?}; 200 messages with 100 waiting mentions each (20,000 inbox rows): {wide:?}"
    );

    let mut target = hub.raw(&victim).await;
    target.register("target", &[]).await;
    target.expect_silence(Duration::from_millis(300)).await;

    let mut mine = hub.raw(&tenant).await;
    let (got, summary) = take(&mut mine, "mine-7").await;
    assert_eq!(got, 50, "bounded");
    assert_eq!(summary, json!({"delivered": 50, "dropped": 150, "remaining": 0}));
    let db = hub_db_size(&hub);
    println!("database after the flood: {db} KiB");
    hub.assert_serving().await;
}

fn hub_db_size(hub: &ChildHub) -> u64 {
    let dir = hub.dir.path();
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("orochi.db"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum::<u64>()
        / 1024
}
