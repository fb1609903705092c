//! `deploy plan` exit codes (0 in sync, 1 differs, 2 error) and `--dry-run`.

use bollard::models::{ContainerUpdateBody, RestartPolicy, RestartPolicyNameEnum};

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_exit_codes_in_sync_drifted_and_error() {
    shared_image().await;
    let fx = Fixture::new(20);

    // Nothing deployed yet: differs. A dry run prints the same plan and touches nothing.
    let out = fx.deploy(&["plan", "stable"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = fx.deploy(&["stable", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["result"], "dry-run");
    assert!(docker_has_no(&fx.container("stable")).await);
    assert!(!fx.state_dir().exists(), "a dry run took no lock and wrote no audit line");

    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = fx.deploy(&["plan", "stable", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = json(&out);
    assert_eq!(plan["in_sync"], true);
    assert_eq!(plan["desired_env_hash"], plan["actual_env_hash"]);
    // In sync: a deploy changes nothing.
    let before = fx.observed("stable").await.unwrap();
    let out = fx.deploy(&["stable", "--yes", "--json"]).await;
    assert_eq!(json(&out)["result"], "in-sync", "{}", text(&out));
    assert_eq!(fx.observed("stable").await.unwrap().id, before.id);

    // Changed by hand: the restart policy.
    let docker = docker().await;
    let update = ContainerUpdateBody { restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }), ..Default::default() };
    docker.update_container(&fx.container("stable"), update).await.unwrap();
    let out = fx.deploy(&["plan", "stable"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("restart") && shown.contains("unless-stopped"), "{shown}");

    // A changed env file differs too, and secrets stay hidden in the diff.
    fx.write_env("stable", "SCITEX_OROCHI_ADMIN_TOKEN=another-admin-token-0123456789\nSCITEX_OROCHI_LOG=info\n");
    let out = fx.deploy(&["plan", "stable", "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out);
    assert!(all.contains("env SCITEX_OROCHI_ADMIN_TOKEN") && all.contains("(hidden)"), "{all}");
    assert!(!all.contains("another-admin-token") && !all.contains(ADMIN_TOKEN), "a secret leaked: {all}");

    // Errors: unknown instance, invalid env, unreachable engine.
    assert_eq!(fx.deploy(&["plan", "prod"]).await.status.code(), Some(2));
    fx.write_env("stable", "SCITEX_OROCHI_PORT=http\n");
    assert_eq!(fx.deploy(&["plan", "stable"]).await.status.code(), Some(2));
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(["deploy", "--spec", &fx.spec_path().display().to_string(), "plan", "dev"]).env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    assert_eq!(cmd.output().await.unwrap().status.code(), Some(2));

    // status shows the drift.
    let out = fx.deploy(&["status", "--json"]).await;
    let rows = json(&out);
    let stable = rows.as_array().unwrap().iter().find(|r| r["instance"] == "stable").unwrap();
    assert_eq!(stable["state"], "running");
    assert!(stable["drift"].as_str().unwrap().starts_with("unknown"), "{stable}");
    let dev = rows.as_array().unwrap().iter().find(|r| r["instance"] == "dev").unwrap();
    assert_eq!(dev["drift"], "not deployed");
}
