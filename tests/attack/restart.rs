//! A planned restart (SIGTERM, as every deploy cut-over sends): sockets close with 1012, our
//! client comes back at once, and every acked message reaches a listener once, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scitex_orochi::client::{ClientOptions, OrochiClient};

use crate::harness::{ADMIN, ChildHub};

const CHANNEL: &str = "#deploy";
const MESSAGES: usize = 300;

fn options(hub: &ChildHub, name: &str) -> ClientOptions {
    let mut o = ClientOptions::new(hub.ws_url(), ADMIN, name);
    o.channels = vec![CHANNEL.to_string()];
    o
}

#[tokio::test]
async fn sigterm_closes_with_1012_and_clients_resume_exactly_once_in_order() {
    let mut hub = ChildHub::start().await;
    let mut watcher = hub.agent_with(ADMIN, "watcher", &[CHANNEL]).await;
    let listener = OrochiClient::connect(options(&hub, "listener")).await.unwrap();
    let sender = Arc::new(OrochiClient::connect(options(&hub, "sender")).await.unwrap());

    // The sender keeps sending through the restart; each send resolves on its ack.
    let sending = {
        let sender = sender.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..MESSAGES {
                let r = sender.send(CHANNEL, &format!("m{i}"), None).await.expect("every send is acked in the end");
                acked.push((Instant::now(), r.seq));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            acked
        })
    };
    // Restart mid-stream: once the first messages were delivered.
    watcher.recv_until(|f| f["payload"]["content"] == "m20").await;

    let status = hub.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    assert_eq!(watcher.closed_with().await, 1012, "a planned restart closes with 1012");
    hub.relaunch().await;
    let back = Instant::now();

    let acked = tokio::time::timeout(Duration::from_secs(60), sending).await.expect("the sender finishes").unwrap();
    let seqs: Vec<u64> = acked.iter().map(|(_, s)| *s).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "acked seqs rise: {seqs:?}");
    let first_after = acked.iter().find(|(t, _)| *t >= back).map(|(t, _)| t.duration_since(back));
    println!("restart: first ack {first_after:?} after the new hub answered /healthz");

    let mut got = Vec::new();
    while got.len() < MESSAGES {
        let f = tokio::time::timeout(Duration::from_secs(20), listener.recv())
            .await
            .unwrap_or_else(|_| panic!("listener stalled after {} messages", got.len()))
            .expect("listener open");
        if f.sender == "sender" {
            got.push((f.content().to_string(), f.seq));
        }
    }
    // Nothing more arrives: a duplicate would.
    if let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(500), listener.recv()).await {
        panic!("an extra frame after all {MESSAGES}: {f:?}");
    }
    let expected: Vec<String> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    let contents: Vec<String> = got.iter().map(|(c, _)| c.clone()).collect();
    assert_eq!(contents, expected, "every acked message once, in order");
    let got_seqs: Vec<u64> = got.iter().map(|(_, s)| s.expect("live and replayed frames carry seq")).collect();
    assert_eq!(got_seqs, seqs, "the listener saw the acked places");

    listener.close().await;
    sender.close().await;
    hub.assert_serving().await;
}
