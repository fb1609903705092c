//! Hub replicas on one PostgreSQL database keep one timeline: what one commits reaches the
//! sockets of every other in `seq` order, once; a name registered on one closes its holder on
//! another; a mention delivered live by another replica does not wait in the inbox.

use scitex_orochi::config::DbLocation;
use serde_json::{Value, json};

use super::server;
use crate::common::*;

/// `n` hubs on one fresh database, and its URL.
async fn replicas_on(n: usize) -> (Vec<TestHub>, String) {
    let url = server::shared().fresh_db().await;
    let mut hubs = Vec::new();
    for _ in 0..n {
        hubs.push(start_hub_with(|c| c.db = DbLocation::parse(&url).unwrap()).await);
    }
    (hubs, url)
}

async fn replicas(n: usize) -> Vec<TestHub> {
    replicas_on(n).await.0
}

/// Waiting mentions in the database.
async fn inbox_rows(url: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client.query_one("SELECT COUNT(*) FROM inbox", &[]).await.unwrap().get(0)
}

/// The `seq`s of the next `n` message frames of `channel` (other frames skipped).
async fn seqs_heard(p: &mut Peer, channel: &str, n: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    while seqs.len() < n {
        let f = p.recv_until(|f| f["type"] == "message" && f["payload"]["channel"] == channel).await;
        seqs.push(f["seq"].as_u64().or_else(|| f["payload"]["seq"].as_u64()).unwrap_or_else(|| panic!("a seq: {f}")));
    }
    seqs
}

/// Sends `n` messages pipelined and returns the acked seqs.
async fn send_many(p: &mut Peer, sender: &str, channel: &str, n: usize) -> Vec<u64> {
    for i in 0..n {
        p.send(json!({"type": "message", "sender": sender, "id": uuid::Uuid::new_v4().to_string(), "payload": {"channel": channel, "content": format!("{sender} {i}")}}))
            .await;
    }
    let mut acked = Vec::new();
    while acked.len() < n {
        let f = p.recv_until(|f| f["type"] == "ack" || f["type"] == "error").await;
        assert_eq!(f["type"], "ack", "{f}");
        acked.push(f["payload"]["seq"].as_u64().unwrap());
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_on_two_replicas_reach_listeners_on_all_three_in_seq_order_once() {
    let hubs = replicas(3).await;
    let mut listeners = Vec::new();
    for (i, h) in hubs.iter().enumerate() {
        listeners.push(h.agent(&format!("listener-{i}"), &["#t"]).await);
    }
    let mut a = hubs[0].agent("sender-a", &["#t"]).await;
    let mut b = hubs[1].agent("sender-b", &["#t"]).await;
    let n = 150;
    let (acked_a, acked_b) = tokio::join!(send_many(&mut a, "sender-a", "#t", n), send_many(&mut b, "sender-b", "#t", n));
    let mut all: Vec<u64> = acked_a.into_iter().chain(acked_b).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=2 * n as u64).collect::<Vec<_>>(), "two replicas writing one channel: 1..N, no gap, no repeat");
    for (i, l) in listeners.iter_mut().enumerate() {
        let heard = seqs_heard(l, "#t", 2 * n).await;
        assert_eq!(heard, all, "listener on replica {i} hears every message once, in seq order");
        l.expect_silence(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_and_history_on_another_replica_see_the_message() {
    let hubs = replicas(2).await;
    let mut observer = Peer::connect(&format!("{}?token={ADMIN}", hubs[1].http("/ws").replace("http", "ws"))).await;
    let mut sender = hubs[0].agent("sender", &["#obs"]).await;
    let ack = sender.say("sender", "#obs", "seen everywhere").await;
    assert_eq!(ack["payload"]["seq"], 1, "{ack}");
    let f = observer.recv_until(|f| f["type"] == "message").await;
    assert_eq!(f["payload"]["content"], "seen everywhere", "{f}");
    let rows = all_rows(&hubs[1].hub.http_url(), "#obs").await;
    assert_eq!(rows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_registered_on_one_replica_closes_its_holder_on_another() {
    let hubs = replicas(2).await;
    let token = hubs[0].workspace_token("lab").await;
    let mut first = hubs[0].raw(&token).await;
    first.register("worker", &["#lab"]).await;
    let mut second = hubs[1].raw(&token).await;
    second.register("worker", &["#lab"]).await;
    assert_eq!(first.closed_with().await, 4000, "the older holder on the other replica is replaced");
    let agents = |h: &TestHub| {
        let url = h.http("/api/agents");
        async move { reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let on_first = agents(&hubs[0]).await;
    assert!(!on_first.as_array().unwrap().iter().any(|a| a["name"] == "worker"), "{on_first}");
    // Another workspace may not take the name on either replica.
    let other = hubs[1].workspace_token("other").await;
    let mut stranger = hubs[0].raw(&other).await;
    stranger.send(json!({"type": "register", "sender": "worker", "id": "r", "payload": {"channels": ["#x"]}})).await;
    let refused = stranger.recv_until(|f| f["type"] == "error").await;
    assert_eq!(refused["payload"]["code"], "NAME_TAKEN", "{refused}");
    second.say("worker", "#lab", "still here").await;
}

async fn gone_from(h: &TestHub, name: &str) {
    eventually("the agent left", || async {
        let agents: Value = reqwest::Client::new().get(h.http("/api/agents")).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap();
        !agents.as_array().unwrap().iter().any(|a| a["name"] == name)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_delivered_by_another_replica_does_not_wait_in_the_inbox() {
    let (hubs, url) = replicas_on(3).await;
    let mut mentioned = hubs[1].agent("mentioned", &["#elsewhere"]).await;
    let mut sender = hubs[0].agent("sender", &["#m"]).await;
    let ack = sender.say("sender", "#m", "@mentioned look").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let live = mentioned.recv_until(|f| f["type"] == "message").await;
    assert_eq!(live["payload"]["content"], "@mentioned look");
    // The replica that delivered it live removes it from the inbox (a moment after the frame
    // left: an agent moving faster gets it again, with its seq, see docs/scale-out.md).
    eventually("the delivered mention left the inbox", || async { inbox_rows(&url).await == 0 }).await;
    drop(mentioned);
    // Registering on a third replica: the inbox holds nothing, the mention was delivered.
    let mut again = hubs[2].raw(ADMIN).await;
    again.register("mentioned", &["#elsewhere"]).await;
    again.expect_silence(std::time::Duration::from_millis(500)).await;
    // A mention while it is away waits, and is handed over on any replica.
    drop(again);
    gone_from(&hubs[2], "mentioned").await;
    sender.say("sender", "#m", "@mentioned while away").await;
    let mut back = hubs[1].raw(ADMIN).await;
    // Not `register`, which skips what comes before the ack: hubs[1] may fetch the row and
    // deliver it live, and drop it from the inbox, after the agent joined and before the ack.
    back.send(json!({"type": "register", "sender": "mentioned", "id": "back", "payload": {"channels": ["#elsewhere"]}})).await;
    let waiting = back.recv_until(|f| f["type"] == "message").await;
    assert_eq!(waiting["payload"]["content"], "@mentioned while away", "{waiting}");
}

/// Announcements missed while a replica's listening connection was down are caught up from the
/// heads once it is back: a lost notification costs a fetch, not a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_announced_while_a_replica_was_not_listening_reach_it_after_it_reconnects() {
    let (hubs, url) = replicas_on(2).await;
    let mut listener = hubs[1].agent("listener", &["#lost"]).await;
    let mut sender = hubs[0].agent("sender", &["#lost"]).await;
    assert_eq!(send_many(&mut sender, "sender", "#lost", 3).await, [1, 2, 3]);
    assert_eq!(seqs_heard(&mut listener, "#lost", 3).await, [1, 2, 3]);
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let cut = client
        .execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN orochi%'", &[])
        .await
        .unwrap();
    assert!(cut >= 2, "both replicas' listening connections were cut: {cut}");
    // Committed while nobody listens (the listeners reconnect after a pause).
    assert_eq!(send_many(&mut sender, "sender", "#lost", 3).await, [4, 5, 6]);
    assert_eq!(seqs_heard(&mut listener, "#lost", 3).await, [4, 5, 6], "caught up after reconnecting, once, in order");
    listener.expect_silence(std::time::Duration::from_millis(300)).await;
}
