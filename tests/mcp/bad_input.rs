//! Bad input to every tool is a tool error with a code and a hint, and the server keeps serving.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn every_tool_refuses_bad_input_and_keeps_serving() {
    let hub = Hub::start().await;
    let (mut mcp, _) = Mcp::start(&hub, "careful", &[]).await;
    mcp.wait_connected().await;
    let huge = "x".repeat(300_000);
    let long_task = "t".repeat(201);
    std::fs::write(mcp.files.join("ok.txt"), b"fine").unwrap();
    let outside = hub.dir.path().join("secret.txt");
    std::fs::write(&outside, b"not yours").unwrap();
    let outside = outside.to_str().unwrap();
    let escape_link = mcp.files.join("escape.txt");
    std::os::unix::fs::symlink(outside, &escape_link).unwrap();

    let cases: Vec<(&str, Value, &str)> = vec![
        ("orochi_send", json!({}), "invalid_input"),
        ("orochi_send", json!({"channel": 5, "message": "x"}), "invalid_input"),
        ("orochi_send", json!({"channel": "#never-used", "message": "x"}), "not_found"),
        ("orochi_send", json!({"channel": "#general", "message": huge}), "invalid_input"),
        ("orochi_send", json!({"channel": "bad name", "message": "x"}), "invalid_input"),
        ("orochi_history", json!({"limit": "ten"}), "invalid_input"),
        ("orochi_history", json!({"limit": 0}), "invalid_input"),
        ("orochi_history", json!({"channel": "#never-used"}), "not_found"),
        ("orochi_who", json!({"unexpected": true}), ""),
        ("orochi_channels", json!({"unexpected": true}), ""),
        ("reply", json!({}), "invalid_input"),
        ("reply", json!({"channel": "#general", "text": ""}), "invalid_input"),
        ("reply", json!({"channel": "#general", "text": huge}), "invalid_input"),
        ("reply", json!({"channel": "#nowhere", "text": "x"}), "not_found"),
        ("reply", json!({"channel": "#general", "text": "x", "files": "ok.txt"}), "invalid_input"),
        ("reply", json!({"channel": "#general", "text": "x", "files": ["../../etc/passwd"]}), "invalid_input"),
        ("reply", json!({"channel": "#general", "text": "x", "files": [outside]}), "permission_denied"),
        ("reply", json!({"channel": "#general", "text": "x", "files": ["escape.txt"]}), "permission_denied"),
        ("reply", json!({"channel": "#general", "text": "x", "files": ["missing.txt"]}), "not_found"),
        ("history", json!({"channel": 42}), "invalid_input"),
        ("history", json!({"limit": 5000}), "invalid_input"),
        ("react", json!({"message_id": "x"}), "invalid_input"),
        ("react", json!({"message_id": "no-such-message", "emoji": "👍"}), "not_found"),
        ("react", json!({"message_id": "x", "emoji": "two words"}), "invalid_input"),
        ("health", json!({}), "invalid_input"),
        ("health", json!({"state": "sleepy"}), "invalid_input"),
        ("health", json!({"state": "dead", "agent": "has space"}), "invalid_input"),
        ("health", json!({"state": "dead", "reason": "r".repeat(600)}), "invalid_input"),
        ("context", json!({"target": "x; rm -rf /"}), "invalid_input"),
        ("context", json!({"target": ["list"]}), "invalid_input"),
        ("task", json!({}), "invalid_input"),
        ("task", json!({"task": 5}), "invalid_input"),
        ("task", json!({"task": long_task}), "invalid_input"),
        ("subagents", json!({"subagents": "x"}), "invalid_input"),
        ("subagents", json!({"subagents": [{"task": "no name"}]}), "invalid_input"),
        ("subagents", json!({"subagents": [{"name": ""}]}), "invalid_input"),
        ("download_media", json!({}), "invalid_input"),
        ("download_media", json!({"url": "http://example.org/media/2026-01/x.png"}), "permission_denied"),
        ("download_media", json!({"url": "/media/../../etc/passwd"}), "permission_denied"),
        ("download_media", json!({"url": "/api/agents"}), "permission_denied"),
        ("download_media", json!({"url": "/media/2026-01/0b7d6a58-7d0c-4c8e-9d43-1c1c1f1e2f3a.png"}), "not_found"),
        ("download_media", json!({"url": "/media/2026-01/x.png", "output_path": "../outside.png"}), "invalid_input"),
        ("download_media", json!({"url": "/media/2026-01/x.png", "output_path": "/etc/passwd"}), "permission_denied"),
        ("upload_media", json!({}), "invalid_input"),
        ("upload_media", json!({"file_path": "../../../etc/passwd"}), "invalid_input"),
        ("upload_media", json!({"file_path": "/etc/passwd"}), "permission_denied"),
        ("upload_media", json!({"file_path": "missing.txt"}), "not_found"),
        ("upload_media", json!({"file_path": "ok.txt", "channel": "#nowhere"}), "not_found"),
        ("no_such_tool", json!({}), "not_found"),
    ];
    for (tool, args, want) in cases {
        if want.is_empty() {
            mcp.ok(tool, args).await;
            continue;
        }
        let code = mcp.error_code(tool, args.clone()).await;
        assert_eq!(code, want, "{tool}({})", args.to_string().chars().take(120).collect::<String>());
    }
    // Nothing was sent by the refused calls, and the server still serves.
    let rows = hub.get("/api/history/general").await;
    assert_eq!(rows.as_array().unwrap().len(), 0, "{rows}");
    assert_eq!(mcp.ok("status", json!({})).await["state"], "connected");
    mcp.ok("orochi_send", json!({"channel": "#general", "message": "still here"})).await;
    assert!(mcp.child.try_wait().unwrap().is_none(), "the server is still running");
}

#[tokio::test]
async fn tools_answer_agent_offline_while_the_hub_is_unreachable() {
    let mut hub = Hub::start().await;
    let config = hub.config.clone();
    hub.hub.take().unwrap().shutdown().await;
    let (mut mcp, _) = Mcp::start(&hub, "lonely", &[]).await;
    assert_eq!(mcp.ok("status", json!({})).await["state"], "connecting");
    assert_eq!(mcp.error_code("task", json!({"task": "x"})).await, "agent_offline");
    assert_eq!(mcp.error_code("react", json!({"message_id": "m", "emoji": "👍"})).await, "agent_offline");
    hub.hub = Some(scitex_orochi::hub::start(config).await.unwrap());
    mcp.wait_connected().await;
    mcp.ok("task", json!({"task": "back online"})).await;
}
