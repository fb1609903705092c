//! Bounds: every field, queue, channel list and message rate has a limit, and going over it is
//! answered (an error frame naming what was too large, a 4008 close for a consumer that does
//! not read) without storing anything or harming anyone else.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as PropConfig, TestRunner};
use serde_json::{Map, Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{ADMIN, ChildHub, Peer, workspace};

/// Sends `frame` (which carries `id`) and returns the first reply naming it.
async fn reply_to(p: &mut Peer, frame: Value) -> Value {
    let id = frame["id"].as_str().expect("frame has an id").to_string();
    p.send(frame).await;
    p.recv_until(|f| f["payload"]["ref"] == id.as_str()).await
}

/// Asserts `reply` is a FIELD_TOO_LARGE error naming `field`.
fn refused_naming(reply: &Value, field: &str) {
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["payload"]["code"], "FIELD_TOO_LARGE", "{reply}");
    let detail = reply["payload"]["detail"].as_str().unwrap();
    assert!(detail.starts_with(field), "the error names {field}: {detail}");
    assert!(detail.len() < 200, "the error does not echo the field: {} bytes", detail.len());
}

async fn get_json(hub: &ChildHub, path: &str) -> Value {
    let r = reqwest::Client::new().get(hub.http(path)).bearer_auth(ADMIN).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn stored_count(hub: &ChildHub) -> u64 {
    get_json(hub, "/api/messages?limit=1000").await.as_array().unwrap().len() as u64
}

#[tokio::test]
async fn bounds_oversized_fields_are_refused_by_name_and_not_stored() {
    let mut hub = ChildHub::start().await;
    let huge = "r".repeat(850_000);
    let mut a = hub.raw(ADMIN).await;
    // Register: the 850 KB role is refused, the socket stays open and registers normally after.
    let r = reply_to(&mut a, json!({"type": "register", "sender": "big", "id": "r1", "payload": {"role": huge}})).await;
    refused_naming(&r, "payload.role");
    for field in ["machine", "model", "project", "agent_id", "multiplexer"] {
        let frame = json!({"type": "register", "sender": "big", "id": format!("r-{field}"), "payload": {field: "m".repeat(300)}});
        refused_naming(&reply_to(&mut a, frame).await, &format!("payload.{field}"));
    }
    let agents = get_json(&hub, "/api/agents").await;
    assert!(agents.as_array().unwrap().iter().all(|x| x["name"] != "big"), "nothing was registered: {agents}");
    let long_task = "t".repeat(300);
    let r = reply_to(&mut a, json!({"type": "register", "sender": "big", "id": "r2",
        "payload": {"role": "worker", "current_task": long_task, "channels": ["#b"]}}))
    .await;
    assert_eq!(r["type"], "ack", "{r}");

    // status_update, heartbeat and health fields.
    let r = reply_to(&mut a, json!({"type": "status_update", "id": "s1", "payload": {"role": huge}})).await;
    refused_naming(&r, "payload.role");
    let r = reply_to(&mut a, json!({"type": "status_update", "id": "s2", "payload": {"current_task": "c".repeat(5000)}})).await;
    refused_naming(&r, "payload.current_task");
    let r = reply_to(&mut a, json!({"type": "heartbeat", "id": "h1", "payload": {"cpu_model": huge}})).await;
    refused_naming(&r, "payload.cpu_model");
    let r = reply_to(&mut a, json!({"type": "health", "id": "he1", "payload": {"state": "healthy", "reason": "x".repeat(10_000)}})).await;
    refused_naming(&r, "payload.reason");
    let agents = get_json(&hub, "/api/agents").await;
    let me = agents.as_array().unwrap().iter().find(|x| x["name"] == "big").expect("registered").clone();
    assert_eq!(me["role"], "worker", "the refused role was not stored");
    assert_eq!(me["current_task"].as_str().unwrap().chars().count(), 200, "current_task is truncated to 200, as the reference");
    assert!(me["resources"].get("cpu_model").is_none());
    assert!(me["health"].is_null(), "{}", me["health"]);
    assert!(agents.to_string().len() < 10_000);

    // Message metadata, attachments and the frame id: refused by name, nothing stored.
    let meta: Map<String, Value> = (0..2000).map(|i| (format!("k{i}"), json!("v".repeat(40)))).collect();
    let r = reply_to(&mut a, json!({"type": "message", "id": "m1", "payload": {"channel": "#b", "content": "x", "metadata": meta}})).await;
    refused_naming(&r, "payload.metadata");
    let att: Vec<Value> = (0..2000).map(|i| json!({"url": format!("/media/{i}{}", "p".repeat(40))})).collect();
    let r = reply_to(&mut a, json!({"type": "message", "id": "m2", "payload": {"channel": "#b", "content": "x", "attachments": att}})).await;
    refused_naming(&r, "payload.attachments");
    a.send(json!({"type": "message", "id": "i".repeat(1000), "payload": {"channel": "#b", "content": "x"}})).await;
    let r = a.recv().await;
    refused_naming(&r, "id");
    assert!(r["payload"].get("ref").is_none(), "an oversized id is not echoed");
    let r = reply_to(&mut a, json!({"type": "message", "id": "m3", "payload": {"channel": "c".repeat(300), "content": "x"}})).await;
    refused_naming(&r, "payload.channel");
    assert_eq!(stored_count(&hub).await, 0, "nothing was stored");
    // The client's ts is not the stored one.
    let r = reply_to(&mut a, json!({"type": "message", "id": "m4", "ts": "1999-01-01T00:00:00", "payload": {"channel": "#b", "content": "ok"}})).await;
    assert_eq!(r["type"], "ack", "{r}");
    let rows = get_json(&hub, "/api/messages?limit=10").await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert!(!rows.to_string().contains("1999-01-01"), "the hub stamps its own ts: {rows}");
    hub.assert_serving().await;
}

#[tokio::test]
async fn bounds_channels_per_agent_are_capped_and_empty_channels_leave() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_MAX_CHANNELS_PER_AGENT", "50")]).await;
    let names = |n: usize, tag: &str| (0..n).map(|i| format!("#{tag}-{i}")).collect::<Vec<_>>();
    let mut a = hub.raw(ADMIN).await;
    let r = reply_to(&mut a, json!({"type": "register", "sender": "joiner", "id": "r1", "payload": {"channels": names(51, "cap")}})).await;
    refused_naming(&r, "payload.channels");
    let r = reply_to(&mut a, json!({"type": "register", "sender": "joiner", "id": "r2", "payload": {"channels": names(45, "cap")}})).await;
    assert_eq!(r["type"], "ack", "{r}");
    let (mut joined, mut refused) = (0, None);
    for (i, ch) in names(10, "more").iter().enumerate() {
        let r = reply_to(&mut a, json!({"type": "subscribe", "id": format!("s{i}"), "payload": {"channel": ch}})).await;
        match r["type"].as_str() {
            Some("ack") => joined += 1,
            _ => {
                refused.get_or_insert(r);
            }
        }
    }
    assert_eq!(joined, 5, "45 + 5 = the cap of 50");
    let refused = refused.expect("the 51st channel is refused");
    assert_eq!(refused["payload"]["code"], "FIELD_TOO_LARGE", "{refused}");
    let live = get_json(&hub, "/api/channels").await;
    assert!(live.get("#cap-0").is_some() && live.get("#more-4").is_some() && live.get("#more-5").is_none(), "{live}");

    // Leaving or disconnecting removes channels nobody is in from the live list.
    let r = reply_to(&mut a, json!({"type": "unsubscribe", "id": "u", "payload": {"channel": "#more-0"}})).await;
    assert_eq!(r["type"], "ack");
    assert!(get_json(&hub, "/api/channels").await.get("#more-0").is_none());
    a.ws.close(None).await.unwrap();
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let live = get_json(&hub, "/api/channels").await;
        let left = live.as_object().unwrap().keys().filter(|k| k.starts_with("#cap-") || k.starts_with("#more-")).count();
        if left == 0 || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(left, 0, "empty channels left the live list");
    assert!(get_json(&hub, "/api/channels").await.get("#general").is_some(), "#general stays listed");
    hub.assert_serving().await;
}

#[tokio::test]
async fn bounds_messages_without_payload_or_channel_are_refused_with_ref() {
    let mut hub = ChildHub::start().await;
    let mut a = hub.agent_with(ADMIN, "nochan", &[]).await;
    let frames = [
        json!({"type": "message", "id": "n1", "payload": null}),
        json!({"type": "message", "id": "n2"}),
        json!({"type": "message", "id": "n3", "payload": {}}),
        json!({"type": "message", "id": "n4", "payload": {"content": "where to?"}}),
        json!({"type": "message", "id": "n5", "payload": {"channel": "", "content": "x"}}),
        json!({"type": "message", "id": "n6", "payload": "text"}),
    ];
    for f in frames {
        let r = reply_to(&mut a, f.clone()).await;
        assert_eq!((r["type"].as_str(), r["payload"]["code"].as_str()), (Some("error"), Some("INVALID_FRAME")), "{f} -> {r}");
    }
    let http = reqwest::Client::new();
    for body in [json!({"payload": null}), json!({"payload": {"content": "x"}}), json!({"sender": "u"})] {
        let r = http.post(hub.http("/api/messages")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(stored_count(&hub).await, 0, "nothing was stored or acked");
    hub.assert_serving().await;
}

/// VmHWM (peak RSS) of the child, in KiB.
fn peak_kib(hub: &ChildHub) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", hub.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn slow_consumers_cut(hub: &ChildHub) -> u64 {
    let m = reqwest::Client::new().get(hub.http("/metrics")).bearer_auth(ADMIN).send().await.unwrap().text().await.unwrap();
    let line = m.lines().find(|l| l.starts_with("orochi_slow_consumers_total")).expect("the metric exists");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn bounds_a_consumer_that_never_reads_large_frames_is_cut_and_memory_stays_bounded() {
    let mut hub = ChildHub::start().await;
    // An observer and an agent on the flooded channel that never read.
    let mut observer = Peer::connect(&format!("ws://127.0.0.1:{}/ws?token={ADMIN}", hub.http_port)).await;
    let mut sink = hub.agent_with(ADMIN, "never-reads", &["#big"]).await;
    let mut sender = hub.agent_with(ADMIN, "big-sender", &[]).await;
    let before = hub.rss_kib();
    let n = 400;
    let started = Instant::now();
    let sending = tokio::spawn(async move {
        let content = "x".repeat(250_000);
        for i in 0..n {
            sender.send(json!({"type": "message", "id": format!("b{i}"), "payload": {"channel": "#big", "content": content}})).await;
        }
        let mut acked = 0;
        while acked < n {
            if sender.recv().await["type"] == "ack" {
                acked += 1;
            }
        }
        sender
    });
    // Both are cut as slow consumers; they then read what the kernel buffered, and the close.
    let deadline = Instant::now() + Duration::from_secs(60);
    while slow_consumers_cut(&hub).await < 2 {
        assert!(Instant::now() < deadline, "the consumers that never read were not cut");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (o, s) = tokio::join!(observer.closed_with(), sink.closed_with());
    assert_eq!((o, s), (4008, 4008));
    let _sender = sending.await.unwrap();
    let after = hub.rss_kib();
    let growth_mib = after.saturating_sub(before) as f64 / 1024.0;
    println!(
        "slow consumers, {n} x 250 KB: hub RSS {before} KiB -> {after} KiB (+{growth_mib:.1} MiB), peak {} KiB, {:.1} s",
        peak_kib(&hub),
        started.elapsed().as_secs_f64()
    );
    assert!(growth_mib < 100.0, "hub RSS grew by {growth_mib:.1} MiB");
    hub.assert_serving().await;
}

#[tokio::test]
async fn bounds_a_flooding_agent_is_rate_limited_and_a_bystander_keeps_receiving() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_RATE_MESSAGES_PER_SEC", "50"), ("SCITEX_OROCHI_RATE_BURST", "20")]).await;
    let (_, token) = workspace(&hub, "floodws").await;
    let mut listener = hub.agent_with(&token, "calm-listener", &["#calm"]).await;
    let mut calm = hub.agent_with(&token, "calm-sender", &[]).await;
    let flooder = hub.agent_with(&token, "flooder", &[]).await;
    let n = 300;
    let flood = tokio::spawn(async move {
        let (mut tx, mut rx) = flooder.ws.split();
        let writer = tokio::spawn(async move {
            for i in 0..n {
                let f = json!({"type": "message", "id": format!("f{i}"), "payload": {"channel": "#flood", "content": "spam"}});
                tx.send(Message::text(f.to_string())).await.unwrap();
            }
            tx
        });
        let (mut acked, mut limited) = (0, 0);
        while acked + limited < n {
            let Some(Ok(Message::Text(t))) = tokio::time::timeout(Duration::from_secs(10), rx.next()).await.expect("a reply") else {
                continue;
            };
            let f: Value = serde_json::from_str(t.as_str()).unwrap();
            assert!(f["payload"]["ref"].as_str().is_some_and(|r| r.starts_with('f')), "every reply names its frame: {f}");
            match (f["type"].as_str(), f["payload"]["code"].as_str()) {
                (Some("ack"), _) => acked += 1,
                (Some("error"), Some("RATE_LIMITED")) => limited += 1,
                _ => panic!("unexpected reply {f}"),
            }
        }
        drop(writer.await.unwrap());
        (acked, limited)
    });
    // Meanwhile a normal agent of the same workspace talks at 20 msg/s and is heard.
    let mut heard = 0;
    for i in 0..20 {
        let ack = calm.say("calm-sender", "#calm", &format!("calm {i}")).await;
        assert_eq!(ack["type"], "ack", "the calm sender is not limited by the flooder: {ack}");
        let got = listener.recv_until(|f| f["type"] == "message").await;
        assert_eq!(got["payload"]["content"], format!("calm {i}"));
        heard += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (acked, limited) = flood.await.unwrap();
    println!("flood of {n}: {acked} stored, {limited} RATE_LIMITED; bystander heard {heard}/20");
    assert!(limited > 0, "the flood was limited");
    assert!(acked >= 20, "the burst was admitted");
    let rows = get_json(&hub, "/api/history/flood?limit=1000").await;
    assert_eq!(rows.as_array().unwrap().len() as u64, acked, "exactly the acked messages were stored");
    hub.assert_serving().await;
}

/// One generated frame: a known or unknown type, an optional sender and a payload of known
/// keys with arbitrary JSON values.
fn frame_strategy() -> impl Strategy<Value = Value> {
    let kinds = prop::sample::select(vec![
        "message", "register", "subscribe", "unsubscribe", "query", "presence", "heartbeat", "status_update", "react",
        "health", "task_update", "subagents_update", "error", "bogus",
    ]);
    let keys = prop::sample::select(vec![
        "channel", "content", "text", "metadata", "attachments", "channels", "role", "current_task", "status",
        "subagent_count", "subagents", "limit", "since", "after_seq", "message_id", "emoji", "state", "agent", "task",
        "cpu_model", "mem_free_mb",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[#a-z]{0,8}".prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let payload = prop_oneof![
        4 => prop::collection::btree_map(keys, value.clone(), 0..6).prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => value,
    ];
    let sender = prop_oneof![Just(None), Just(Some("fuzzer".to_string())), "[a-z]{1,8}".prop_map(Some), ".{0,20}".prop_map(Some)];
    (kinds, sender, payload).prop_map(|(kind, sender, payload)| {
        let mut f = json!({"type": kind, "payload": payload});
        if let Some(s) = sender {
            f["sender"] = s.into();
        }
        f
    })
}

#[tokio::test]
async fn bounds_generated_frames_each_get_a_reply() {
    let mut hub = ChildHub::start().await;
    let mut p = hub.agent_with(ADMIN, "fuzzer", &["#fuzz"]).await;
    let mut runner = TestRunner::new(PropConfig::default());
    let strategy = frame_strategy();
    let n = 300;
    for i in 0..n {
        let mut frame = strategy.new_tree(&mut runner).expect("a frame").current();
        let id = format!("gen-{i}");
        frame["id"] = id.clone().into();
        p.send(frame.clone()).await;
        let reply = tokio::time::timeout(Duration::from_secs(10), p.recv_until(|f| f["payload"]["ref"] == id.as_str()))
            .await
            .unwrap_or_else(|_| panic!("no reply to {frame}"));
        assert!(matches!(reply["type"].as_str(), Some("ack" | "error" | "message" | "presence")), "{frame} -> {reply}");
    }
    println!("{n} generated frames, each answered");
    hub.assert_serving().await;
}
