//! The TypeScript channel bridge shipped in the Python package (`scitex_orochi/_ts` in
//! scitex-orochi 0.13.0) connects unchanged: its frames and REST calls, with the field names of
//! its source (`src/config.ts`, `src/connection.ts`, `src/metrics.ts`, `src/tools.ts`), replayed
//! through the TLS edge with `SCITEX_OROCHI_URL` a bare `wss://host:port` base and the agent's own
//! workspace token. Nothing it normally sends earns an error frame.

use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use scitex_orochi::client::dial;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::*;
use crate::edge::Edge;
use crate::trust_test_ca;

const AGENT: &str = "mba-claude";

/// `buildHttpBase()`: the base with `wss` turned into `https`.
fn http_base(base: &str) -> String {
    base.replacen("wss://", "https://", 1)
}

/// Every frame that arrives within `d`; none may be an error.
async fn drain(p: &mut Peer, d: Duration) -> Vec<Value> {
    let mut frames = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(d, p.ws.next()).await {
        if let Message::Text(t) = m {
            let f: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_ne!(f["type"], "error", "the bridge's frame was refused: {f}");
            frames.push(f);
        }
    }
    frames
}

#[tokio::test]
async fn the_typescript_bridge_connects_unchanged() {
    trust_test_ca();
    let h = start_hub().await;
    let edge = Edge::start(h.hub.http_addr);
    let http = reqwest::Client::new();
    let token = h.workspace_token("lab").await;
    let mut colleague = h.raw(&token).await;
    colleague.register("colleague", &["#lab"]).await;

    // buildWsUrl(): base + /ws/agent/ + ?token=&agent= (neither encoded).
    let url = format!("{}/ws/agent/?token={token}&agent={AGENT}", edge.base());
    let (ws, _) = dial::connect(url.as_str().into_client_request().unwrap(), None).await.expect("upgrades through the edge");
    let mut bridge = Peer { ws };
    // register(): no id, no channels (they are server-assigned), the bridge's own fields.
    bridge
        .send(json!({"type": "register", "sender": AGENT, "payload": {
            "machine": "mba", "hostname_canonical": "mba.example.org", "role": "claude-code", "model": "unknown",
            "agent_id": format!("{AGENT}@mba"), "project": "", "workdir": "/Users/someone/proj/scitex-orochi",
        }}))
        .await;
    // startHeartbeat(): getSystemMetrics() as the payload, disk may be null.
    bridge
        .send(json!({"type": "heartbeat", "sender": AGENT, "payload": {
            "cpu_count": 8, "cpu_model": "Apple M2", "load_avg_1m": 1.5, "load_avg_5m": 1.2, "load_avg_15m": 0.9,
            "mem_free_mb": 4096, "mem_total_mb": 16384, "mem_used_percent": 75, "disk_used_percent": null,
        }}))
        .await;
    // handleSubscribe().
    bridge.send(json!({"type": "subscribe", "sender": AGENT, "payload": {"channel": "#lab"}})).await;
    let acks = drain(&mut bridge, Duration::from_millis(500)).await;
    assert_eq!(acks.iter().filter(|f| f["type"] == "ack").count(), 3, "{acks:?}");

    // handleReply(): upload with ?token= and the agent's token, then a message without an id,
    // `text` for the content, `metadata.reply_to`, the upload's answer as the attachment.
    let base = http_base(&edge.base());
    let data = base64::engine::general_purpose::STANDARD.encode(b"figure bytes");
    let upload = http
        .post(format!("{base}/api/upload-base64?token={token}"))
        .json(&json!({"data": data, "filename": "fig.png"}))
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success(), "upload: {}", upload.status());
    let attachment: Value = upload.json().await.unwrap();
    let asked = colleague.say("colleague", "#lab", "@mba-claude can you plot it?").await;
    let reply_to = asked["payload"]["msg_id"].as_str().unwrap().to_string();
    bridge
        .send(json!({"type": "message", "sender": AGENT, "payload": {
            "channel": "#lab", "text": "here it is", "metadata": {"reply_to": reply_to}, "attachments": [attachment],
        }}))
        .await;
    let after = drain(&mut bridge, Duration::from_millis(500)).await;
    assert!(after.iter().any(|f| f["type"] == "message" && f["payload"]["content"] == "@mba-claude can you plot it?"), "{after:?}");
    assert!(after.iter().any(|f| f["type"] == "ack" && f["payload"]["seq"].is_u64()), "the message is stored: {after:?}");
    let got = colleague.recv_until(|f| f["type"] == "message" && f["sender"] == AGENT).await;
    assert_eq!(got["payload"]["content"], "here it is");
    assert_eq!(got["payload"]["metadata"]["reply_to"], reply_to.as_str());
    assert_eq!(got["payload"]["metadata"]["attachments"][0]["filename"], "fig.png");

    // handleHistory(): /api/messages?channel=&limit=&token= on the same origin, one channel only.
    colleague.say("colleague", "#elsewhere", "not in #lab").await;
    let rows: Value = http
        .get(format!("{base}/api/messages?channel={}&limit=10&token={token}", "%23lab"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lines: Vec<(&str, &str)> =
        rows.as_array().unwrap().iter().map(|m| (m["sender"].as_str().unwrap(), m["content"].as_str().unwrap())).collect();
    assert_eq!(lines, [("colleague", "@mba-claude can you plot it?"), (AGENT, "here it is")]);

    // The channel-info tool: /api/channels/ (trailing slash), a list it finds `#lab` in.
    let list: Value =
        http.get(format!("{base}/api/channels/?token={token}")).header("Accept", "application/json").send().await.unwrap().json().await.unwrap();
    let lab = list.as_array().unwrap().iter().find(|c| c["name"] == "#lab").unwrap_or_else(|| panic!("#lab listed: {list}"));
    assert!(lab["description"].is_string(), "{lab}");

    // handleUnsubscribe(), then nothing refused to the end.
    bridge.send(json!({"type": "unsubscribe", "sender": AGENT, "payload": {"channel": "#lab"}})).await;
    drain(&mut bridge, Duration::from_millis(300)).await;
}
