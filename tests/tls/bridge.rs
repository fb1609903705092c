//! The MCP bridge (`scitex-orochi mcp`, driven as in tests/mcp) with `SCITEX_OROCHI_URL` a bare
//! `wss://host:port` base: socket at `/ws/agent/` and REST on the same origin, through the edge.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::edge::{Edge, ca};
use crate::mcp_harness::{Hub, Mcp};

#[tokio::test]
async fn the_mcp_bridge_works_through_the_edge() {
    let hub = Hub::start().await;
    let edge = Edge::start(SocketAddr::from(([127, 0, 0, 1], hub.config.dashboard_port)));
    let ca_file = ca().file.to_string_lossy().to_string();
    let base = edge.base();
    let (mut mcp, _) = Mcp::start(&hub, "tls-bridge", &[("SCITEX_OROCHI_URL", &base), ("SSL_CERT_FILE", &ca_file)]).await;
    let status = mcp.wait_connected().await;
    assert_eq!(status["hub"], format!("{base}/ws/agent/"));
    // Pushed over the socket.
    let peer = hub.peer("peer", &["#general"]).await;
    peer.send("#general", "hello @tls-bridge over TLS", None).await.unwrap();
    let note = mcp.notification(Duration::from_secs(10)).await.expect("a channel notification");
    assert_eq!(note["content"], "hello @tls-bridge over TLS");
    // REST through the same origin: channels, reactions in history, an upload with a reply.
    let channels = mcp.ok("orochi_channels", json!({})).await;
    assert!(channels["channels"].as_array().unwrap().contains(&json!("#general")), "{channels}");
    std::fs::write(mcp.files.join("notes.txt"), b"attached over TLS").unwrap();
    let r = mcp.ok("reply", json!({"chat_id": "#general", "text": "see attached", "files": ["notes.txt"]})).await;
    assert_eq!(r["attachments"][0]["filename"], "notes.txt");
    let h = mcp.ok("history", json!({"channel": "#general", "limit": 1})).await;
    assert_eq!(h["messages"][0]["content"], "see attached");
    let rows = hub.get("/api/history/general?limit=1").await;
    assert_eq!(rows[0]["attachments"][0]["size"], 17);
    peer.close().await;
}

#[tokio::test]
async fn the_mcp_bridge_names_a_refused_certificate_and_never_prints_the_token() {
    let hub = Hub::start().await;
    let edge = Edge::start(SocketAddr::from(([127, 0, 0, 1], hub.config.dashboard_port)));
    let other = tempfile::tempdir().unwrap();
    let other_file = other.path().join("other-ca.pem");
    std::fs::write(&other_file, crate::edge::Ca::new("some other CA").pem).unwrap();
    // A URL with the token in it, as the TypeScript bridge's users write it.
    let url = format!("{}/ws/agent/?token={}&agent=tls-bridge", edge.base(), crate::mcp_harness::ADMIN);
    let (mut mcp, _) = Mcp::start(&hub, "tls-bridge", &[("SCITEX_OROCHI_URL", &url), ("SSL_CERT_FILE", &other_file.to_string_lossy())]).await;
    let mut status = json!(null);
    for _ in 0..50 {
        status = mcp.ok("status", json!({})).await;
        if status["detail"].as_str().is_some_and(|d| d.contains("TLS")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("status: {status}");
    assert_eq!(status["state"], "connecting");
    assert!(status["detail"].as_str().unwrap().contains("TLS with localhost failed: its certificate is signed by an unknown CA"), "{status}");
    assert!(!status.to_string().contains(crate::mcp_harness::ADMIN), "token shown: {status}");
    assert!(status["hub"].as_str().unwrap().contains("token=***"), "{status}");
    let code = mcp.error_code("orochi_send", json!({"channel": "#general", "message": "x"})).await;
    assert_eq!(code, "agent_offline");
}
