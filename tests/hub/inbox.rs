//! Mentions wait for their agent: a mention of an offline agent (or in a channel it has not
//! joined) is handed to it once at its next register, after the ack, bounded per agent and
//! never across workspaces.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

const QUIET: Duration = Duration::from_millis(300);

/// Registers `name` and collects what its inbox hands over: the `message` frames, then the
/// `inbox` summary.
async fn register_and_take(p: &mut Peer, name: &str, channels: &[&str]) -> (Vec<Value>, Value) {
    p.register(name, channels).await;
    let mut got = Vec::new();
    loop {
        let f = p.recv().await;
        match f["type"].as_str() {
            Some("message") => got.push(f),
            Some("inbox") => return (got, f["payload"].clone()),
            _ => {}
        }
    }
}

/// Registers, disconnects and waits until the hub has let the name go.
async fn go_offline(h: &TestHub, token: &str, name: &str) {
    let mut p = h.raw(token).await;
    p.register(name, &[]).await;
    drop(p);
    for _ in 0..100 {
        let agents: Value = reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        if !agents.as_array().unwrap().iter().any(|a| a["name"] == name) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{name} still listed");
}

#[tokio::test]
async fn an_offline_agent_gets_its_mention_once_at_its_next_register() {
    let h = start_hub().await;
    let token = h.workspace_token("lab").await;
    go_offline(&h, &token, "bob").await;
    let mut alice = h.raw(&token).await;
    alice.register("alice", &["#dev"]).await;
    alice.say("alice", "#dev", "no mention here").await;
    let first = alice.say("alice", "#dev", "@bob can you look?").await;
    let second = alice.say("alice", "#dev", "and @bob @bob this too").await;

    let mut bob = h.raw(&token).await;
    let (got, summary) = register_and_take(&mut bob, "bob", &[]).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (f, ack) in got.iter().zip([&first, &second]) {
        assert_eq!(f["id"], ack["payload"]["msg_id"]);
        assert_eq!(f["seq"], ack["payload"]["seq"]);
        assert_eq!(f["sender"], "alice");
        assert_eq!(f["payload"]["channel"], "#dev");
        assert_eq!(f["payload"]["inbox"], true);
    }
    assert_eq!(got[0]["payload"]["content"], "@bob can you look?");
    assert_eq!(summary, json!({"delivered": 2, "dropped": 0, "remaining": 0}));

    // Online now: a mention arrives live and does not wait.
    alice.say("alice", "#dev", "@bob live one").await;
    let live = bob.recv_until(|f| f["type"] == "message").await;
    assert_eq!(live["payload"]["content"], "@bob live one");
    assert!(live["payload"].get("inbox").is_none());
    bob.expect_silence(QUIET).await;

    // The next register hands nothing: neither the taken ones nor the live one.
    drop(bob);
    go_offline(&h, &token, "bob").await;
    let mut bob = h.raw(&token).await;
    bob.register("bob", &[]).await;
    bob.expect_silence(QUIET).await;
}

#[tokio::test]
async fn an_agent_cut_as_a_slow_consumer_gets_the_mentions_it_missed() {
    let h = start_hub_with(|c| c.queue_frames = 64).await;
    // Never reads, so its socket buffers fill, then its queue: cut with 4008.
    let mut slow = h.agent("slow", &[]).await;
    let mut sender = h.agent("sender", &[]).await;
    let payload = "p".repeat(16 * 1024);
    let mut sent = Vec::new();
    for i in 0..400 {
        let id = format!("m{i}");
        sender.send(json!({"type": "message", "id": id, "payload": {"channel": "#firehose", "content": format!("@slow {i} {payload}")}})).await;
        sent.push(id);
        if i % 32 == 31 {
            for _ in 0..32 {
                sender.recv_until(|f| f["type"] == "ack").await;
            }
        }
    }
    // What reached the old socket before the cut, read now.
    let mut live: Vec<Value> = Vec::new();
    let code = loop {
        let next = tokio::time::timeout(Duration::from_secs(10), slow.ws.next()).await.expect("slow peer is cut");
        match next {
            Some(Ok(Message::Text(t))) => live.push(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(c))) => break c.map_or(1005, |c| u16::from(c.code)),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => break 1006,
        }
    };
    assert_eq!(code, 4008);
    let after = sender.say("sender", "#firehose", "@slow after the cut").await;

    // Handed over as the client reads them (never more than half the queue at once); a
    // register that left some (`remaining`) is followed by another.
    let mut slow = h.raw(ADMIN).await;
    let mut got: Vec<Value> = Vec::new();
    let mut registers = 0;
    loop {
        let (frames, summary) = register_and_take(&mut slow, "slow", &[]).await;
        registers += 1;
        assert_eq!(summary["delivered"].as_u64().unwrap() as usize, frames.len());
        got.extend(frames);
        if summary["remaining"] == 0 {
            break;
        }
        assert!(registers < 20, "the inbox drains");
    }
    let live_seqs: Vec<u64> = live.iter().filter(|f| f["type"] == "message").map(|f| f["seq"].as_u64().unwrap()).collect();
    println!("400 mentions: {} read before the cut (4008), {} handed over in {registers} registers", live_seqs.len(), got.len());
    assert!(got.len() > 1, "the mentions not queued before the cut wait");
    // Every mention arrives: before the cut or from the inbox; at most the frame the hub was
    // writing when it cut the socket is lost.
    let mut all: Vec<u64> = live_seqs.iter().chain(got.iter().map(|f| f["seq"].as_u64().unwrap()).collect::<Vec<_>>().iter()).copied().collect();
    all.sort();
    all.dedup();
    println!("missing: {}", 401 - all.len());
    assert!(all.len() >= 400 - 1, "{} of 401 mentions arrived", all.len());
    let seqs: Vec<u64> = got.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, each once: {seqs:?}");
    let last = got.last().unwrap();
    assert_eq!(last["id"], after["payload"]["msg_id"], "the mention after the cut is there");
    slow.register("slow", &[]).await;
    slow.expect_silence(QUIET).await;
}

#[tokio::test]
async fn mentions_never_cross_workspaces() {
    let h = start_hub().await;
    let (lab, other) = (h.workspace_token("lab").await, h.workspace_token("other").await);
    go_offline(&h, &lab, "bob").await;
    let mut eve = h.raw(&other).await;
    eve.register("eve", &["#x"]).await;
    eve.say("eve", "#x", "@bob secrets from another workspace").await;
    // The admin posting without a name reaches every workspace: its mention waits too.
    let mut admin = h.raw(ADMIN).await;
    let everyone = admin.say("user", "#x", "@bob from the admin").await;
    assert_eq!(everyone["type"], "ack", "{everyone}");

    let mut bob = h.raw(&lab).await;
    let (got, summary) = register_and_take(&mut bob, "bob", &[]).await;
    let contents: Vec<&str> = got.iter().map(|f| f["payload"]["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["@bob from the admin"]);
    assert_eq!(summary["delivered"], 1);
}

#[tokio::test]
async fn the_bound_drops_the_oldest_and_says_how_many() {
    let h = start_hub_with(|c| c.inbox_max = 3).await;
    go_offline(&h, ADMIN, "bob").await;
    let mut alice = h.agent("alice", &[]).await;
    for i in 0..5 {
        alice.say("alice", "#busy", &format!("@bob number {i}")).await;
    }
    let mut bob = h.raw(ADMIN).await;
    let (got, summary) = register_and_take(&mut bob, "bob", &[]).await;
    let contents: Vec<&str> = got.iter().map(|f| f["payload"]["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["@bob number 2", "@bob number 3", "@bob number 4"]);
    assert_eq!(summary, json!({"delivered": 3, "dropped": 2, "remaining": 0}));
}

#[tokio::test]
async fn the_client_surfaces_waiting_mentions_through_listen() {
    let h = start_hub().await;
    go_offline(&h, ADMIN, "bob").await;
    let mut alice = h.agent("alice", &[]).await;
    let ack = alice.say("alice", "#elsewhere", "@bob while you were away").await;
    let mut o = scitex_orochi::ClientOptions::new(h.ws_url(), ADMIN, "bob");
    o.channels = vec!["#general".into()];
    let bob = scitex_orochi::OrochiClient::connect(o).await.unwrap();
    let f = tokio::time::timeout(WAIT, bob.recv()).await.unwrap().unwrap();
    assert_eq!(f.id, ack["payload"]["msg_id"].as_str().unwrap());
    assert_eq!(f.channel(), "#elsewhere");
    assert!(tokio::time::timeout(QUIET, bob.recv()).await.is_err(), "once");
    bob.close().await;
}
