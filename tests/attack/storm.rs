//! A restart storm, bounded: 200 agents in two workspaces, each through our client, and a sender
//! per workspace sending throughout a SIGTERM and relaunch. Every agent gets every acked message
//! of its channel once, in order; agents mentioned while they were away get each mention once,
//! in order, from their inbox when they come back.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use scitex_orochi::client::{ClientOptions, OrochiClient};
use scitex_orochi::protocol::Frame;
use tokio::sync::mpsc;

use crate::harness::{ADMIN, ChildHub, workspace};

const WORKSPACES: usize = 2;
const AGENTS: usize = 100;
/// Agents of each workspace that stay away the whole time and are only mentioned.
const AWAY: usize = 5;
const MESSAGES: usize = 300;
/// The hub is stopped once this many messages of each sender were acked.
const BEFORE_RESTART: usize = 100;

fn options(hub: &ChildHub, token: &str, name: &str, channels: &[String]) -> ClientOptions {
    let mut o = ClientOptions::new(hub.ws_url(), token, name);
    o.channels = channels.to_vec();
    o.heartbeat = None;
    o
}

fn agent(k: usize, j: usize) -> String {
    format!("storm-{k}-{j}")
}

fn away(k: usize, j: usize) -> String {
    format!("away-{k}-{j}")
}

/// Message `i` of workspace `k`: mentions one agent of the channel (who may be reconnecting at
/// that moment, so it can arrive live, from the inbox and from the resume) and every tenth one
/// also an agent who is away.
fn content(k: usize, i: usize) -> String {
    let mut c = format!("m{i} @{}", agent(k, i % AGENTS));
    if i.is_multiple_of(10) {
        c.push_str(&format!(" @{}", away(k, (i / 10) % AWAY)));
    }
    c
}

/// The next `n` frames from `sender`, failing on a stall.
async fn frames_from(client: &OrochiClient, sender: &str, n: usize) -> Vec<Frame> {
    let mut got = Vec::new();
    while got.len() < n {
        let f = tokio::time::timeout(Duration::from_secs(30), client.recv())
            .await
            .unwrap_or_else(|_| panic!("{} stalled after {} of {n} messages", client.name(), got.len()))
            .expect("the client stays open");
        if f.sender == sender {
            got.push(f);
        }
    }
    got
}

/// Contents and seqs of `frames`, for comparing with what was acked.
fn seen(frames: &[Frame]) -> Vec<(String, Option<u64>)> {
    frames.iter().map(|f| (f.content().to_string(), f.seq)).collect()
}

/// After all expected frames, nothing more arrives (a duplicate would).
async fn assert_nothing_more(client: &OrochiClient) {
    if let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(500), client.recv()).await {
        panic!("{} got an extra frame: {f:?}", client.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_agent_resumes_exactly_once_in_order_across_a_restart_storm() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_RATE_MESSAGES_PER_SEC", "0")]).await;
    let mut tokens = Vec::new();
    for k in 0..WORKSPACES {
        let (id, token) = workspace(&hub, &format!("storm-{k}")).await;
        // The away agents' names are placed in their workspace ahead of use, so mentions of
        // them wait in their inbox although they never connected.
        for j in 0..AWAY {
            let placed = reqwest::Client::new()
                .post(hub.http(&format!("/api/workspaces/{id}/members")))
                .bearer_auth(ADMIN)
                .json(&serde_json::json!({"agent_name": away(k, j)}))
                .send()
                .await
                .unwrap();
            assert!(placed.status().is_success(), "{}", placed.text().await.unwrap());
        }
        tokens.push(token);
    }
    let channel = |k: usize| format!("#storm-{k}");
    let connecting = (0..WORKSPACES).flat_map(|k| (0..AGENTS).map(move |j| (k, j))).map(|(k, j)| {
        let o = options(&hub, &tokens[k], &agent(k, j), &[channel(k)]);
        async move { (k, OrochiClient::connect(o).await.expect("agent connects")) }
    });
    let agents: Vec<(usize, OrochiClient)> = join_all(connecting).await;

    // One sender per workspace, each send resolving on its ack; progress tells when to stop the hub.
    let (progress, mut acked_so_far) = mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for (k, token) in tokens.iter().enumerate() {
        let client = Arc::new(OrochiClient::connect(options(&hub, token, &format!("sender-{k}"), &[])).await.unwrap());
        let (progress, channel) = (progress.clone(), channel(k));
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..MESSAGES {
                let r = client.send(&channel, &content(k, i), None).await.expect("every send is acked in the end");
                acked.push((content(k, i), Some(r.seq)));
                let _ = progress.send(());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            client.close().await;
            acked
        }));
    }
    drop(progress);
    for _ in 0..WORKSPACES * BEFORE_RESTART {
        acked_so_far.recv().await.expect("the senders send");
    }

    let status = hub.terminate().await;
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    hub.relaunch().await;

    let mut acked = Vec::new();
    for s in senders {
        acked.push(tokio::time::timeout(Duration::from_secs(60), s).await.expect("the senders finish").unwrap());
    }
    for sent in &acked {
        let seqs: Vec<u64> = sent.iter().filter_map(|(_, s)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "acked seqs rise: {seqs:?}");
    }

    let checks = agents.iter().map(|(k, client)| {
        let want = &acked[*k];
        async move {
            let got = frames_from(client, &format!("sender-{k}"), want.len()).await;
            assert_eq!(&seen(&got), want, "{}: every acked message of its channel once, in order", client.name());
            assert_nothing_more(client).await;
        }
    });
    join_all(checks).await;
    assert!(agents.iter().all(|(_, c)| c.status().reconnects >= 1), "every agent came back through a reconnect");

    // The away agents come back now: each mention that waited, once, oldest first.
    for (k, token) in tokens.iter().enumerate() {
        for j in 0..AWAY {
            let name = away(k, j);
            let mentioned: Vec<(String, Option<u64>)> =
                acked[k].iter().filter(|(c, _)| c.contains(&format!("@{name}"))).cloned().collect();
            assert!(mentioned.len() >= MESSAGES / 10 / AWAY, "{name} was mentioned");
            let client = OrochiClient::connect(options(&hub, token, &name, &[])).await.unwrap();
            let got = frames_from(&client, &format!("sender-{k}"), mentioned.len()).await;
            assert!(got.iter().all(|f| f.payload.get("inbox") == Some(&serde_json::Value::Bool(true))), "from the inbox");
            assert_eq!(seen(&got), mentioned, "{name}: every mention once, in order");
            assert_nothing_more(&client).await;
            client.close().await;
        }
    }
    for (_, c) in &agents {
        c.close().await;
    }
    hub.assert_serving().await;
}
