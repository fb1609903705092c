//! A `deploy stable` cut-over as connected agents see it: the old container gets SIGTERM (its
//! sockets close with 1012), a new one starts on the same data folder, and our clients come back
//! on their own. Every listener ends with every acked message once, in order.

use std::sync::Arc;
use std::time::Duration;

use scitex_orochi::client::{ClientOptions, OrochiClient};
use tokio::sync::{mpsc, watch};

use super::common::*;

const CHANNEL: &str = "#cutover";
const LISTENERS: usize = 3;
/// Acked messages before the cut-over starts, and again after it finished.
const AROUND: usize = 50;

fn options(fx: &Fixture, name: &str, channels: &[&str]) -> ClientOptions {
    let mut o = ClientOptions::new(format!("ws://127.0.0.1:{}/", fx.stable.ws), ADMIN_TOKEN, name);
    o.channels = channels.iter().map(|c| c.to_string()).collect();
    o.heartbeat = None;
    o
}

/// Waits for `n` more acks from the sender.
async fn acks(progress: &mut mpsc::UnboundedReceiver<()>, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(60), progress.recv())
            .await
            .expect("the sender keeps getting acks")
            .expect("the sender runs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_every_acked_message_once_in_order_across_a_cutover() {
    shared_image().await;
    let fx = Fixture::new(20);
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let before = fx.observed("stable").await.unwrap();

    let mut listeners = Vec::new();
    for i in 0..LISTENERS {
        listeners.push(OrochiClient::connect(options(&fx, &format!("listener-{i}"), &[CHANNEL])).await.unwrap());
    }
    // The sender sends until told to stop; each send resolves on its ack, however long the
    // cut-over keeps the hub away.
    let sender = Arc::new(OrochiClient::connect(options(&fx, "sender", &[])).await.unwrap());
    let (progress_tx, mut progress) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let sending = {
        let sender = sender.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                if *stop.borrow() {
                    break;
                }
                let content = format!("m{i}");
                let r = sender.send(CHANNEL, &content, None).await.expect("every send is acked in the end");
                acked.push((content, r.seq));
                let _ = progress_tx.send(());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            acked
        })
    };
    acks(&mut progress, AROUND).await;

    // A changed env value is a change the controller applies by replacing the container.
    fx.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_LOG=warn\n"));
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["result"], "deployed");
    let after = fx.observed("stable").await.unwrap();
    assert_ne!(after.id, before.id, "a new container serves");
    assert!(!after.binds.is_empty() && after.binds == before.binds, "the same data folder: {:?}", after.binds);

    acks(&mut progress, AROUND).await;
    stop_tx.send(true).unwrap();
    let acked = tokio::time::timeout(Duration::from_secs(60), sending).await.expect("the sender stops").unwrap();
    sender.close().await;
    let seqs: Vec<u64> = acked.iter().map(|(_, s)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "acked seqs rise across the cut-over: {seqs:?}");

    for l in &listeners {
        let mut got = Vec::new();
        while got.len() < acked.len() {
            let f = tokio::time::timeout(Duration::from_secs(30), l.recv())
                .await
                .unwrap_or_else(|_| panic!("{} stalled after {} of {} messages", l.name(), got.len(), acked.len()))
                .expect("the listener stays open");
            if f.sender == "sender" {
                got.push((f.content().to_string(), f.seq.expect("live and replayed frames carry seq")));
            }
        }
        assert_eq!(got, acked, "{}: every acked message once, in order", l.name());
        if let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(500), l.recv()).await {
            panic!("{} got an extra frame after all {}: {f:?}", l.name(), acked.len());
        }
        assert!(l.status().reconnects >= 1, "{} came back through a reconnect", l.name());
        l.close().await;
    }
}
