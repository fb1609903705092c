//! The command line as a user runs it: exit codes, `--json` on stdout, `--dry-run`, help texts,
//! and the token never in output.

use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

use crate::common::*;

const SUBCOMMANDS: &[&str] = &[
    "serve", "healthcheck", "send", "login", "join", "show-history", "list-agents", "list-channels", "list-members", "show-status",
];

async fn run(h: Option<&TestHub>, token: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    cmd.args(args).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("SCITEX_OROCHI_TOKEN", token)
        .env("SCITEX_OROCHI_AGENT", "cli-tester").env("SCITEX_OROCHI_LOG", "warn");
    match h {
        Some(h) => cmd.env("SCITEX_OROCHI_PORT", h.hub.ws_addr.port().to_string()).env("SCITEX_OROCHI_DASHBOARD_PORT", h.hub.http_addr.port().to_string()),
        None => cmd.env("SCITEX_OROCHI_PORT", free_port().to_string()).env("SCITEX_OROCHI_DASHBOARD_PORT", free_port().to_string()),
    };
    cmd.output().await.unwrap()
}

fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn assert_no_token(o: &Output) {
    for stream in [&o.stdout, &o.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(ADMIN), "token leaked");
    }
}

#[tokio::test]
async fn data_commands_print_clean_json() {
    let h = start_hub().await;
    let _agent = h.agent("worker-1", &["#general", "#dev"]).await;
    let o = run(Some(&h), ADMIN, &["send", "#general", "hello from the cli", "--json"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sent = stdout_json(&o);
    assert_eq!((sent["status"].as_str(), sent["seq"].as_u64()), (Some("sent"), Some(1)));
    assert_no_token(&o);
    let o = run(Some(&h), ADMIN, &["show-history", "general", "--limit", "5", "--json"]).await;
    assert_eq!(stdout_json(&o)[0]["content"], "hello from the cli");
    assert_eq!(stdout_json(&o)[0]["sender"], "cli-tester");
    let o = run(Some(&h), ADMIN, &["list-agents", "--json"]).await;
    assert_eq!(stdout_json(&o)[0]["name"], "worker-1");
    let o = run(Some(&h), ADMIN, &["list-channels", "--json"]).await;
    assert!(stdout_json(&o).as_array().unwrap().contains(&Value::from("#dev")));
    let o = run(Some(&h), ADMIN, &["list-members", "--channel", "#dev", "--json"]).await;
    assert_eq!(stdout_json(&o), serde_json::json!(["worker-1"]));
    let o = run(Some(&h), ADMIN, &["list-members", "--channel", "#nope"]).await;
    assert_eq!(o.status.code(), Some(1));
    let o = run(Some(&h), ADMIN, &["show-status", "--json"]).await;
    assert_eq!(stdout_json(&o)["agents_online"], 1);
    let o = run(Some(&h), ADMIN, &["join", "#alerts", "--agent", "worker-1", "--json"]).await;
    assert_eq!(stdout_json(&o)["live"], true);
    let o = run(Some(&h), ADMIN, &["list-agents"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("worker-1"));
    assert_no_token(&o);
}

#[tokio::test]
async fn dry_run_touches_nothing() {
    let h = start_hub().await;
    let o = run(Some(&h), ADMIN, &["send", "#general", "not really", "--dry-run", "--json"]).await;
    assert!(o.status.success());
    assert_eq!(stdout_json(&o)["action"], "send");
    let o = run(Some(&h), ADMIN, &["join", "#x", "--dry-run"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains("[dry-run]"));
    let rows = all_rows(&h.hub.http_url(), "#general").await;
    assert!(rows.is_empty());
}

#[tokio::test]
async fn exit_codes() {
    let h = start_hub_with(|c| c.max_content_bytes = 100).await;
    let o = run(None, ADMIN, &["send", "#general", "x"]).await;
    assert_eq!(o.status.code(), Some(3), "hub unreachable");
    let o = run(None, ADMIN, &["list-agents"]).await;
    assert_eq!(o.status.code(), Some(3), "hub unreachable over REST");
    let o = run(Some(&h), "wrong-token", &["send", "#general", "x"]).await;
    assert_eq!(o.status.code(), Some(3), "token refused");
    let o = run(Some(&h), "wrong-token", &["list-agents"]).await;
    assert_eq!(o.status.code(), Some(3));
    let o = run(Some(&h), ADMIN, &["send", "#general"]).await;
    assert_eq!(o.status.code(), Some(2), "usage");
    let o = run(Some(&h), ADMIN, &["no-such-command"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = run(Some(&h), ADMIN, &["send", "#general", &"x".repeat(200)]).await;
    assert_eq!(o.status.code(), Some(1), "refused by the hub");
    assert!(String::from_utf8_lossy(&o.stderr).contains("CONTENT_TOO_LARGE"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"));
    let o = cmd.args(["list-agents"]).env("SCITEX_OROCHI_PORT", "99999").env("SCITEX_OROCHI_TOKEN", "s3cret-value").output().await.unwrap();
    assert_eq!(o.status.code(), Some(2), "a bad setting is a usage error");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("SCITEX_OROCHI_PORT") && !err.contains("s3cret-value"), "{err}");
}

#[tokio::test]
async fn every_command_has_examples_and_exit_codes_in_help() {
    let o = run(None, "", &["--version"]).await;
    assert!(String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")));
    for sub in SUBCOMMANDS {
        let o = run(None, "", &[sub, "-h"]).await;
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{sub} -h");
        assert!(help.contains("Examples:") && help.contains("Exit codes"), "{sub} -h lacks examples or exit codes:\n{help}");
    }
}

/// `scitex-orochi skills list | head -1`: a short command dies quietly on a closed stdout
/// (SIGPIPE), where a server ignores SIGPIPE; no panic text on stderr.
#[tokio::test]
async fn short_commands_exit_quietly_on_a_closed_stdout() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scitex-orochi"))
        .args(["skills", "list"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}", out.status);
}

/// `SCITEX_OROCHI_AGENT=head-mba scitex-orochi send` while the MCP bridge holds head-mba: the
/// same workspace's token may send as it; another workspace's is refused (exit 1).
#[tokio::test]
async fn send_works_beside_the_bridge_holding_the_name() {
    let h = start_hub().await;
    let mut tokens = Vec::new();
    for name in ["lab", "other"] {
        tokens.push(h.workspace_token(name).await);
    }
    let mut bridge = h.raw(&tokens[0]).await;
    bridge.register("cli-tester", &["#general"]).await;
    let o = run(Some(&h), &tokens[0], &["send", "#general", "beside the bridge", "--json"]).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(Some(&h), &tokens[1], &["send", "#general", "not yours"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("NAME_TAKEN"), "{}", String::from_utf8_lossy(&o.stderr));
}
