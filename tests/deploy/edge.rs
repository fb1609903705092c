//! Two replicas behind nginx configured as docs/scale-out.md shows (plain HTTP here; tests/tls
//! runs the TLS part): during a rolling deploy every request through the edge is answered, and
//! an agent connected through it comes back through it on its own.

use std::path::Path;
use std::time::Duration;

use scitex_orochi::client::{ClientOptions, OrochiClient};
use tokio::sync::watch;

use super::common::*;
use crate::nginx::{Nginx, http_conf, proxy_location};
use super::replicas::poll;

/// The upstream and location of docs/scale-out.md, without TLS.
pub(super) fn conf(dir: &Path, port: u16, replica_ports: &[u16]) -> String {
    let servers: String = replica_ports.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=0;\n")).collect();
    let location = proxy_location("http://orochi_stable", "");
    http_conf(dir, &format!("    upstream orochi_stable {{\n{servers}    }}\n    server {{\n        listen 127.0.0.1:{port};\n{location}    }}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_a_rolling_deploy_answers_every_request() {
    let image = shared_image().await;
    let fx = Fixture::replicated(20, 2);
    let variant = variant_of(&image, &fx).await;
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let ports = [fx.stable.http, fx.stable.http + 1];
    let edge = Nginx::start(|_| {}, |dir, port| conf(dir, port, &ports));

    let mut options = ClientOptions::new(format!("ws://127.0.0.1:{}/ws/agent/", edge.port), ADMIN_TOKEN, "edge-agent");
    options.channels = vec!["#edge".into()];
    options.heartbeat = None;
    let agent = OrochiClient::connect(options).await.expect("registers through the edge");
    agent.send("#edge", "before", None).await.expect("acked through the edge");

    let (stop_tx, stop) = watch::channel(false);
    let poller = poll(vec![format!("http://127.0.0.1:{}/healthz", edge.port)], stop);
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--image", &variant]).await;
    stop_tx.send(true).unwrap();
    let rounds = poller.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let failed = rounds.iter().filter(|r| !r[0]).count();
    assert!(rounds.len() > 10 && failed == 0, "{failed} of {} requests through the edge failed", rounds.len());

    // Both replicas were replaced, so the agent's socket was closed (1012) at least once; it
    // came back through the edge and sends again.
    let receipt = tokio::time::timeout(Duration::from_secs(30), agent.send("#edge", "after", None)).await.expect("no hang").expect("acked after the deploy");
    assert!(agent.status().reconnects >= 1, "the agent reconnected: {:?}", agent.status());
    eprintln!("behind nginx: {} requests during the rolling deploy, none failed; the agent reconnected {} time(s), sent at seq {}", rounds.len(), agent.status().reconnects, receipt.seq);
    agent.close().await;
}
