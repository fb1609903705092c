//! `replicas = 2` on the real PostgreSQL of the test run (tests/support/pg.rs), its socket
//! folder bound into the containers: a rolling deploy while one agent sends without pause and
//! another listens, both through the nginx edge of docs/scale-out.md. No acked message is lost
//! or stored twice, the channel's seqs stay gapless, and the listener hears every message once,
//! in order, across its reconnects.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use scitex_orochi::client::rest::Rest;
use scitex_orochi::client::{ClientOptions, OrochiClient};
use scitex_orochi::protocol::limits::MAX_PAGE;
use tokio::sync::watch;

use super::common::*;
use super::edge::conf;
use crate::nginx::Nginx;

const CHANNEL: &str = "#roll";
/// Longest wait for one ack, or for the listener to catch up: a hang fails the test.
const PATIENCE: Duration = Duration::from_secs(30);

/// (seq, content) in the order they were acked, heard or stored.
type Log = Arc<Mutex<Vec<(u64, String)>>>;

async fn agent(edge: u16, name: &str, channels: &[&str]) -> OrochiClient {
    let mut options = ClientOptions::new(format!("ws://127.0.0.1:{edge}/ws/agent/"), ADMIN_TOKEN, name);
    options.channels = channels.iter().map(|c| c.to_string()).collect();
    options.heartbeat = None;
    OrochiClient::connect(options).await.unwrap_or_else(|e| panic!("{name} registers through the edge: {e}"))
}

/// Sends `m0`, `m1`, … one after the other (each waits for its ack) until `stop`; returns the
/// client (for its status) and the longest wait for one ack.
fn send_until(sender: OrochiClient, acked: Log, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<(OrochiClient, Duration)> {
    tokio::spawn(async move {
        let (mut i, mut longest) = (0u64, Duration::ZERO);
        while !*stop.borrow() {
            let content = format!("m{i}");
            let started = tokio::time::Instant::now();
            let receipt = tokio::time::timeout(PATIENCE, sender.send(CHANNEL, &content, None))
                .await
                .unwrap_or_else(|_| panic!("no ack for {content} within {PATIENCE:?}"))
                .unwrap_or_else(|e| panic!("{content} was refused: {e}"));
            longest = longest.max(started.elapsed());
            acked.lock().unwrap().push((receipt.seq, content));
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (sender, longest)
    })
}

/// Records every message of the channel the listener is given, live or replayed.
fn listen(listener: Arc<OrochiClient>, heard: Log) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(f) = listener.recv().await {
            if f.kind == "message" && f.channel() == CHANNEL {
                heard.lock().unwrap().push((f.seq.expect("a message frame carries its seq"), f.content().to_string()));
            }
        }
    })
}

/// Waits until `log` holds `n` entries (after the current ones).
async fn grows_to(log: &Log, n: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while log.lock().unwrap().len() < n {
        assert!(tokio::time::Instant::now() < deadline, "{what}: {} of {n} after {PATIENCE:?}", log.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The channel's whole history by REST through the edge, oldest first.
async fn stored(edge: u16) -> Vec<(u64, String)> {
    let rest = Rest::new(&format!("http://127.0.0.1:{edge}"), ADMIN_TOKEN, PATIENCE);
    let path = format!("/api/history/{}", CHANNEL.trim_start_matches('#'));
    let mut rows = Vec::new();
    loop {
        let after = rows.last().map_or(0, |(s, _): &(u64, String)| *s);
        let page = rest.get(&path, &[("after_seq", after.to_string()), ("limit", MAX_PAGE.to_string())]).await.expect("history through the edge");
        let page = page.as_array().expect("history is an array").clone();
        rows.extend(page.iter().map(|r| (r["seq"].as_u64().unwrap(), r["content"].as_str().unwrap().to_string())));
        if (page.len() as i64) < MAX_PAGE {
            return rows;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_rolling_deploy_loses_no_acked_message() {
    let image = shared_image().await;
    let fx = Fixture::replicated(30, 2);
    fx.on_postgres().await;
    let variant = variant_of(&image, &fx).await;
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!fx.dir.path().join("data/orochi.db").exists(), "the replicas use PostgreSQL, not a SQLite file");
    assert_eq!(fx.observed_name(&fx.stable_replica(1).0).await.unwrap().user, "65534:65534", "not root: the socket admits any uid");
    let ports = [fx.stable.http, fx.stable.http + 1];
    let edge = Nginx::start(|_| {}, |dir, port| conf(dir, port, &ports));

    let (acked, heard): (Log, Log) = Default::default();
    let listener = Arc::new(agent(edge.port, "pg-listener", &[CHANNEL]).await);
    let listening = listen(listener.clone(), heard.clone());
    let (stop_tx, stop) = watch::channel(false);
    let sending = send_until(agent(edge.port, "pg-sender", &[]).await, acked.clone(), stop);
    // Through the edge's round-robin the two agents start on different replicas.
    grows_to(&acked, 20, "acked before the deploy").await;
    grows_to(&heard, 20, "heard before the deploy").await;

    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json", "--image", &variant]).await;
    assert!(out.status.success(), "{}", text(&out));
    let rolled = json(&out);
    let during = acked.lock().unwrap().len();
    grows_to(&acked, during + 20, "acked after the deploy").await;
    stop_tx.send(true).unwrap();
    let (sender, longest_ack) = sending.await.expect("the sender never failed");
    for i in 0..2 {
        assert_eq!(fx.observed_name(&fx.stable_replica(i).0).await.unwrap().image, variant, "replica {i} runs the new image");
    }
    // The URL in the env file is what the containers have: no drift is left behind.
    let out = fx.deploy(&["plan", "stable", "--image", &variant]).await;
    assert_eq!(out.status.code(), Some(0), "in sync after the deploy: {}", text(&out));

    // The store: every acked message exactly once at its acked seq, and seqs 1..N.
    let acked = acked.lock().unwrap().clone();
    let rows = stored(edge.port).await;
    let seqs: Vec<u64> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=rows.len() as u64).collect::<Vec<_>>(), "gapless seqs 1..N");
    assert_eq!(rows, acked, "the store holds exactly the acked messages, each at its acked seq");

    // The listener: every message once, in seq order, across its reconnects.
    grows_to(&heard, rows.len(), "heard by the listener").await;
    assert_eq!(*heard.lock().unwrap(), rows, "the listener heard every message once, in order");
    let (s, l) = (sender.status(), listener.status());
    assert!(s.reconnects >= 1 && l.reconnects >= 1, "both agents were moved by the deploy: {s:?} {l:?}");
    eprintln!(
        "rolling deploy of 2 replicas on PostgreSQL in {} ms: {} messages acked ({} before it ended), none lost, none twice; longest wait for an ack {} ms; sender reconnected {}, listener {}; replica gaps {} / {} ms, instance gap {}",
        rolled["timings"]["total_ms"],
        rows.len(),
        during,
        longest_ack.as_millis(),
        s.reconnects,
        l.reconnects,
        rolled["replicas"][0]["gap_ms"],
        rolled["replicas"][1]["gap_ms"],
        rolled["timings"]["cutover_gap_ms"]
    );
    sender.close().await;
    listener.close().await;
    listening.abort();
}
