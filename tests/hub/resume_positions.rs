//! `register.resume`: a client names the last `seq` it holds per channel; the hub sends what it
//! missed there when it still holds it, before the ack, and the ack lists the channels it then
//! holds everything of (`caught_up`). Old clients, positions behind, at or past the head, too
//! far behind, hostile ones, another workspace's messages, and a restarted hub.

use serde_json::{Value, json};

use crate::common::*;

/// Registers `name` on `channels` with `resume` and returns the reply (ack or error).
async fn register_at(p: &mut Peer, name: &str, channels: &[&str], resume: Value) -> Value {
    let id = format!("reg-{name}");
    p.send(json!({"type": "register", "sender": name, "id": id, "payload": {"channels": channels, "resume": resume}})).await;
    p.recv_until(|f| f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error")).await
}

/// [`register_at`], also returning the frames that came before the reply.
async fn register_seeing(p: &mut Peer, name: &str, channels: &[&str], resume: Value) -> (Vec<Value>, Value) {
    let id = format!("reg-{name}");
    p.send(json!({"type": "register", "sender": name, "id": id, "payload": {"channels": channels, "resume": resume}})).await;
    let mut before = Vec::new();
    loop {
        let f = p.recv().await;
        if f["payload"]["ref"] == id.as_str() && (f["type"] == "ack" || f["type"] == "error") {
            return (before, f);
        }
        before.push(f);
    }
}

fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().filter(|f| f["type"] == "message").map(|f| f["seq"].as_u64().unwrap()).collect()
}

fn caught_up(ack: &Value) -> Vec<&str> {
    ack["payload"]["caught_up"].as_array().unwrap_or_else(|| panic!("caught_up in {ack}")).iter().map(|v| v.as_str().unwrap()).collect()
}

/// `n` messages on `channel` from a sender of the admin's workspace; returns the last seq.
async fn post(h: &TestHub, channel: &str, n: usize) -> u64 {
    let mut sender = h.agent("poster", &[]).await;
    let mut last = 0;
    for i in 0..n {
        last = sender.say("poster", channel, &format!("m{i}")).await["payload"]["seq"].as_u64().unwrap();
    }
    last
}

#[tokio::test]
async fn a_register_without_positions_is_acked_as_before() {
    let h = start_hub().await;
    post(&h, "#r", 2).await;
    let mut old = h.raw(ADMIN).await;
    let ack = old.register("old", &["#r"]).await;
    assert_eq!(ack["payload"].as_object().unwrap().len(), 2, "status and ref only: {ack}");
}

#[tokio::test]
async fn positions_behind_get_what_they_missed_before_the_ack_and_at_or_past_the_head_nothing() {
    let h = start_hub().await;
    let head = post(&h, "#r", 3).await;
    assert_eq!(head, 3);
    let mut at = h.raw(ADMIN).await;
    let (before, ack) = register_seeing(&mut at, "at", &["#r"], json!({"#r": head})).await;
    assert_eq!((seqs(&before), caught_up(&ack)), (vec![], vec!["#r"]));
    let mut behind = h.raw(ADMIN).await;
    let (before, ack) = register_seeing(&mut behind, "behind", &["#r"], json!({"#r": 1})).await;
    assert_eq!((seqs(&before), caught_up(&ack)), (vec![2, 3], vec!["#r"]), "the missed frames, in order, then the ack");
    assert_eq!(before[0]["payload"]["content"], "m1", "the live frame as it was: {}", before[0]);
    // Past the head (a client of a hub whose data was replaced): nothing to replay either.
    let mut past = h.raw(ADMIN).await;
    assert_eq!(caught_up(&register_at(&mut past, "past", &["#r"], json!({"#r": u64::MAX})).await), ["#r"]);
    // A caught-up agent gets what follows live, once.
    post(&h, "#r", 1).await;
    for p in [&mut at, &mut behind] {
        let live = p.recv_until(|f| f["type"] == "message").await;
        assert_eq!(live["seq"], 4);
        p.expect_silence(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_client_further_behind_than_the_hub_keeps_reads_history() {
    let h = start_hub().await;
    post(&h, "#long", 70).await;
    let mut p = h.raw(ADMIN).await;
    let (before, ack) = register_seeing(&mut p, "slow", &["#long"], json!({"#long": 1})).await;
    assert!(seqs(&before).is_empty() && caught_up(&ack).is_empty(), "2 to 6 are no longer kept: {ack}");
    let mut near = h.raw(ADMIN).await;
    let (before, ack) = register_seeing(&mut near, "near", &["#long"], json!({"#long": 60})).await;
    assert_eq!((seqs(&before), caught_up(&ack)), ((61..=70).collect(), vec!["#long"]));
}

#[tokio::test]
async fn only_joined_channels_the_hub_has_seen_are_caught_up() {
    let h = start_hub().await;
    post(&h, "#seen", 1).await;
    post(&h, "#elsewhere", 1).await;
    let mut p = h.raw(ADMIN).await;
    // #never has no rows (no head known); #elsewhere is not among the channels joined.
    let ack = register_at(&mut p, "picky", &["#seen", "#never"], json!({"#seen": 1, "#never": 0, "#elsewhere": 99})).await;
    assert_eq!(caught_up(&ack), ["#seen"]);
}

#[tokio::test]
async fn hostile_positions_are_refused_and_store_nothing() {
    let h = start_hub_with(|c| c.max_channels_per_agent = 2).await;
    let mut p = h.raw(ADMIN).await;
    for (bad, code) in [
        (json!({"#r": -1}), "INVALID_FRAME"),
        (json!({"#r": 1.5}), "INVALID_FRAME"),
        (json!({"#r": "7"}), "INVALID_FRAME"),
        (json!(["#r", 3]), "INVALID_FRAME"),
        (json!({"#a": 1, "#b": 1, "#c": 1}), "FIELD_TOO_LARGE"),
    ] {
        let reply = register_at(&mut p, "hostile", &["#r"], bad.clone()).await;
        assert_eq!(reply["type"], "error", "{bad} -> {reply}");
        assert_eq!(reply["payload"]["code"], code, "{bad} -> {reply}");
    }
    // Not registered by any of them: the socket may not subscribe.
    p.send(json!({"type": "subscribe", "sender": "hostile", "id": "s", "payload": {"channel": "#r"}})).await;
    assert_eq!(p.recv_until(|f| f["payload"]["ref"] == "s").await["payload"]["code"], "NOT_REGISTERED");
}

#[tokio::test]
async fn another_workspace_learns_no_rows_from_its_positions() {
    let h = start_hub().await;
    let (one, two) = (h.workspace_token("one").await, h.workspace_token("two").await);
    let mut writer = h.raw(&one).await;
    writer.register("writer", &["#shared"]).await;
    writer.say("writer", "#shared", "for workspace one only").await;
    let mut reader = h.raw(&two).await;
    let (before, ack) = register_seeing(&mut reader, "reader", &["#shared"], json!({"#shared": 0})).await;
    assert_eq!(caught_up(&ack), ["#shared"], "its history holds nothing it may read: {ack}");
    assert!(before.iter().chain([&ack]).all(|f| !f.to_string().contains("workspace one")), "{before:?} {ack}");
    reader.send(json!({"type": "query", "sender": "reader", "id": "q", "payload": {"channel": "#shared", "after_seq": 0, "limit": 100}})).await;
    let rows = reader.recv_until(|f| f["payload"]["ref"] == "q").await;
    assert_eq!(rows["payload"]["history"], json!([]), "the other workspace's row stays hidden");
    reader.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "q").await;
    reader.expect_silence(std::time::Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_restarted_hub_knows_the_heads_of_its_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let first = TestHub { hub: scitex_orochi::hub::start(config.clone()).await.unwrap(), dir };
    let head = post(&first, "#kept", 2).await;
    let TestHub { hub, dir } = first;
    hub.shutdown().await;
    let again = TestHub { hub: scitex_orochi::hub::start(config).await.unwrap(), dir };
    // The heads are read beside serving: a register before that reads history (not caught up).
    eventually("the restarted hub knows #kept's head", || {
        let url = again.ws_url();
        async move {
            let mut p = Peer::connect(&format!("{url}?token={ADMIN}")).await;
            register_at(&mut p, "back", &["#kept"], json!({"#kept": head})).await["payload"]["caught_up"] == json!(["#kept"])
        }
    })
    .await;
    let mut behind = again.raw(ADMIN).await;
    assert!(caught_up(&register_at(&mut behind, "behind", &["#kept"], json!({"#kept": head - 1})).await).is_empty());
}

/// Replicas write one PostgreSQL store, so no hub there can vouch for a channel's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_on_postgresql_never_answers_caught_up() {
    let h = crate::pg::hub::pg_hub().await;
    let head = post(&h, "#r", 2).await;
    let mut p = h.raw(ADMIN).await;
    assert!(caught_up(&register_at(&mut p, "replica-client", &["#r"], json!({"#r": head})).await).is_empty());
}
