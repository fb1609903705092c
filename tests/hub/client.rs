//! `OrochiClient` against a real hub: every call, and reconnect with gapless resume across a
//! hub restart.

use std::time::Duration;

use scitex_orochi::client::{ClientError, ClientOptions, OrochiClient};
use scitex_orochi::hub;
use serde_json::{Value, json};

use crate::common::*;

fn options(h: &TestHub, name: &str, channels: &[&str]) -> ClientOptions {
    options_at(&h.ws_url(), name, channels)
}

#[tokio::test]
async fn every_call_works_and_replies_are_correlated() {
    let h = start_hub().await;
    let mut o = options(&h, "rusty", &["#general"]);
    o.role = "worker".into();
    o.heartbeat = Some(Duration::from_millis(200));
    let c = OrochiClient::connect(o).await.unwrap();
    let mut peer = h.agent("peer", &["#general"]).await;
    // Interleave sends and queries: each reply goes to its own caller.
    let (r1, hist, who, r2) = tokio::join!(
        c.send("#general", "one", None),
        c.query_history("#general", 10, None),
        c.who(),
        c.send("#general", "two @peer", Some(json!({"k": "v"}).as_object().unwrap().clone())),
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_ne!(r1.seq, r2.seq);
    assert!(hist.unwrap().len() <= 2);
    assert!(who.unwrap().contains_key("rusty"));
    let got = peer.recv_until(|f| f["type"] == "message" && f["payload"]["content"] == "two @peer").await;
    assert_eq!(got["payload"]["metadata"]["k"], "v");
    let rows = c.query_history("#general", 10, Some(0)).await.unwrap();
    assert_eq!(rows.len(), 2);
    peer.say("peer", "#general", "to rusty").await;
    let f = tokio::time::timeout(WAIT, c.recv()).await.unwrap().unwrap();
    assert_eq!(f.content(), "to rusty");
    c.subscribe("#side").await.unwrap();
    peer.say("peer", "#side", "side note").await;
    assert_eq!(tokio::time::timeout(WAIT, c.recv()).await.unwrap().unwrap().content(), "side note");
    c.unsubscribe("#side").await.unwrap();
    c.update_status(Some("busy"), Some("testing the client")).await.unwrap();
    let me = || async {
        let agents: Value = reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        agents.as_array().unwrap().iter().find(|a| a["name"] == "rusty").unwrap().clone()
    };
    // The client's first periodic heartbeat carries the machine's figures.
    eventually("heartbeat with figures", || async { me().await["resources"]["cpu_count"].is_u64() }).await;
    let me = me().await;
    assert_eq!((me["status"].as_str(), me["current_task"].as_str(), me["role"].as_str()), (Some("busy"), Some("testing the client"), Some("worker")));
    assert!(me["resources"]["cpu_count"].as_u64().unwrap() >= 1, "periodic heartbeat carries machine figures: {me}");
    assert!(me["resources"]["mem_total_mb"].as_u64().unwrap() > 0);
    let err = c.send("#general", &"x".repeat(300_000), None).await.unwrap_err();
    assert!(matches!(err, ClientError::Refused { ref code, .. } if code == "CONTENT_TOO_LARGE"), "{err}");
    c.close().await;
}

/// A client that subscribes while a channel is busy learns its head from history, then keeps
/// only live frames above it: a message must never be readable before its live frame was
/// queued, or it falls between the two and is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_to_a_busy_channel_misses_nothing_after_the_first_frame() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let h = start_hub().await;
    let c = OrochiClient::connect(options(&h, "joiner", &[])).await.unwrap();
    for round in 0..25 {
        let channel = format!("#busy-{round}");
        let (mut out, mut acks) = h.agent(&format!("talker-{round}"), &[]).await.ws.split();
        let drain = tokio::spawn(async move { while let Some(Ok(_)) = acks.next().await {} });
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let talker = {
            let channel = channel.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while !*stopped.borrow_and_update() {
                    for _ in 0..20 {
                        let f = json!({"type": "message", "sender": format!("talker-{round}"), "payload": {"channel": channel, "content": n.to_string()}});
                        out.feed(Message::text(f.to_string())).await.unwrap();
                        n += 1;
                    }
                    out.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let end = json!({"type": "message", "sender": format!("talker-{round}"), "payload": {"channel": channel, "content": "end"}});
                out.send(Message::text(end.to_string())).await.unwrap();
                out
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.subscribe(&channel).await.unwrap();
        let mut seqs = Vec::new();
        loop {
            let f = tokio::time::timeout(WAIT, c.recv()).await.expect("frames keep coming").unwrap();
            if f.channel() != channel {
                continue;
            }
            seqs.push(f.seq.unwrap());
            if seqs.len() == 200 {
                stop.send(true).unwrap();
            }
            if f.content() == "end" {
                break;
            }
        }
        assert!(seqs.len() > 200, "round {round}: the talker stopped early");
        let gaps: Vec<_> = seqs.windows(2).filter(|w| w[1] != w[0] + 1).collect();
        assert!(gaps.is_empty(), "round {round}: after seq {} the client missed or repeated: {gaps:?}", seqs[0]);
        drop(talker.await.unwrap());
        drain.abort();
    }
    c.close().await;
}

#[tokio::test]
async fn connection_errors_are_typed() {
    let h = start_hub().await;
    let mut o = options(&h, "x", &[]);
    o.token = "wrong".into();
    assert!(matches!(OrochiClient::connect(o).await, Err(ClientError::AuthRefused)));
    let o = ClientOptions::new(format!("ws://127.0.0.1:{}/", free_port()), ADMIN, "x");
    let err = OrochiClient::connect(o).await.err().unwrap();
    assert!(err.is_connectivity(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_without_gap_or_duplicate_after_a_hub_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.port = free_port();
    config.dashboard_port = free_port();
    let running = hub::start(config.clone()).await.unwrap();
    let base = running.http_url();
    let post = |i: usize| {
        let base = base.clone();
        async move {
            // Retried until the hub takes it: the sender lives through the restart too.
            loop {
                let r = reqwest::Client::new()
                    .post(format!("{base}/api/messages"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"sender": "feeder", "payload": {"channel": "#resume", "content": format!("{i}")}}))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let mut o = ClientOptions::new(running.ws_url(), ADMIN, "listener");
    o.channels = vec!["#resume".into()];
    let c = OrochiClient::connect(o).await.unwrap();
    for i in 0..50 {
        post(i).await;
    }
    running.shutdown().await;
    let running = hub::start(config.clone()).await.unwrap();
    // These land while the listener is still backing off.
    for i in 50..120 {
        post(i).await;
    }
    for i in 120..150 {
        post(i).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut got = Vec::new();
    while got.len() < 150 {
        let f = tokio::time::timeout(Duration::from_secs(15), c.recv()).await.expect("resumed stream").unwrap();
        got.push((f.seq.unwrap(), f.content().to_string()));
    }
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=150).collect::<Vec<u64>>(), "no gap, no duplicate, in order");
    assert_eq!(got[149].1, "149");
    assert!(tokio::time::timeout(Duration::from_millis(300), c.recv()).await.is_err(), "nothing extra");
    c.close().await;
    running.shutdown().await;
}

#[tokio::test]
async fn a_replaced_client_does_not_fight_back() {
    let h = start_hub().await;
    let c = OrochiClient::connect(options(&h, "twin", &["#general"])).await.unwrap();
    let mut other = h.agent("twin", &["#general"]).await;
    // The client's stream ends instead of reconnecting and replacing the newcomer.
    // The stream ended with the client's task: nothing is left that could reconnect.
    assert!(tokio::time::timeout(WAIT, c.recv()).await.expect("stream ends").is_none());
    other.send(json!({"type": "presence", "id": "p"})).await;
    assert!(other.recv().await["payload"]["agents"].get("twin").is_some(), "the newcomer keeps the name");
}

/// A client that missed nothing across a restart resumes without a replay (`caught_up` once
/// the hub has read its heads; a history read before that) and gets what follows once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_missed_nothing_gets_what_follows_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.port = free_port();
    config.dashboard_port = free_port();
    let running = hub::start(config.clone()).await.unwrap();
    let c = OrochiClient::connect(options_at(&running.ws_url(), "quiet", &["#quiet"])).await.unwrap();
    let feeder = OrochiClient::connect(options_at(&running.ws_url(), "feeder", &[])).await.unwrap();
    for i in 0..3 {
        feeder.send("#quiet", &format!("{i}"), None).await.unwrap();
    }
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(tokio::time::timeout(WAIT, c.recv()).await.expect("live").unwrap().seq.unwrap());
    }
    let mut reconnects = c.reconnects();
    running.shutdown().await;
    let running = hub::start(config).await.unwrap();
    tokio::time::timeout(Duration::from_secs(15), reconnects.changed()).await.expect("reconnected").unwrap();
    for i in 3..5 {
        feeder.send("#quiet", &format!("{i}"), None).await.unwrap();
    }
    for _ in 0..2 {
        seqs.push(tokio::time::timeout(WAIT, c.recv()).await.expect("live after the restart").unwrap().seq.unwrap());
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5], "once each, in order");
    assert!(tokio::time::timeout(Duration::from_millis(300), c.recv()).await.is_err(), "nothing extra");
    c.close().await;
    feeder.close().await;
    running.shutdown().await;
}

fn options_at(url: &str, name: &str, channels: &[&str]) -> ClientOptions {
    let mut o = ClientOptions::new(url.to_string(), ADMIN, name);
    o.channels = channels.iter().map(|c| c.to_string()).collect();
    o
}
