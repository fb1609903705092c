//! The deploy CLI's remaining paths against the real engine: exit 6 (another deploy holds the
//! instance's lock), exit 7 (deployed, but the cache purge failed), `deploy logs` and
//! `deploy purge-cache`, and `doctor` with Docker present (engine, instance, the agent path into
//! the container).

use scitex_orochi::deploy::lock::InstanceLock;

use super::cloudflare::FakeCloudflare;
use super::common::*;

fn cloudflare_env(cf: &FakeCloudflare, token: &str) -> Vec<(String, String)> {
    vec![
        ("SCITEX_OROCHI_CLOUDFLARE_API_TOKEN".into(), token.into()),
        ("SCITEX_OROCHI_CLOUDFLARE_ZONE_ID".into(), "zone123".into()),
        ("SCITEX_OROCHI_CLOUDFLARE_API_BASE".into(), cf.base.clone()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_exits_6_failed_purge_exits_7_then_logs_and_purge_cache() {
    shared_image().await;
    let cf = FakeCloudflare::start(0).await;
    let mut fx = Fixture::new(20);

    // Another deploy of stable holds its lock: exit 6, and nothing is touched.
    {
        let _held = InstanceLock::acquire(&fx.state_dir(), "stable").unwrap();
        let out = fx.deploy(&["stable", "--yes"]).await;
        assert_eq!(out.status.code(), Some(6), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("another deploy of stable is running"), "{}", text(&out));
        assert!(docker_has_no(&fx.container("stable")).await);
        assert!(fx.audit().is_empty());
    }

    // Cloudflare refuses the token: the hub is deployed and serving, the exit code is 7.
    fx.env = cloudflare_env(&cf, "not-the-cf-token");
    let out = fx.deploy(&["stable", "--yes", "--json"]).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let outcome = json(&out);
    assert_eq!(outcome["result"], "deployed");
    assert!(outcome["purge_error"].as_str().unwrap().contains("403"), "{outcome}");
    assert!(outcome["image_size_bytes"].as_u64().unwrap() > 0, "{outcome}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not-the-cf-token"), "the token leaked");
    assert!(get(&format!("{}/healthz", fx.http("stable"))).await.status().is_success());

    // doctor on this Docker machine: the engine, the instance, and the agent path into the
    // container (its agent socket probed under a name of doctor's own).
    let saved = std::mem::replace(
        &mut fx.env,
        vec![
            ("SCITEX_OROCHI_TOKEN".into(), ADMIN_TOKEN.into()),
            ("SCITEX_OROCHI_PORT".into(), fx.stable.ws.to_string()),
            ("SCITEX_OROCHI_DASHBOARD_PORT".into(), fx.stable.http.to_string()),
        ],
    );
    let report = json(&fx.raw(&["doctor", "--json", "--spec", &fx.spec_path().display().to_string()]).await);
    let status = |name: &str| report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).map(|c| c["status"].clone());
    for name in ["docker", "instance stable", "hub", "auth", "agents and channels", "agent socket"] {
        assert_eq!(status(name).unwrap_or_else(|| panic!("no {name}: {report}")), "ok", "{name}: {report}");
    }
    fx.env = saved;

    // The container's own log: the hub's start line.
    let out = fx.deploy(&["logs", "stable", "--tail", "200"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("orochi hub: agents"), "{logs}");
    let out = fx.deploy(&["logs", "nosuch"]).await;
    assert!(!out.status.success());

    // purge-cache with the right token: the answering pages go in one call; a dry run sends none.
    fx.env = cloudflare_env(&cf, "cf-test-token");
    let calls_before = cf.calls().len();
    let out = fx.deploy(&["purge-cache", "stable", "--all", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["skipped"], "dry run");
    assert_eq!(cf.calls().len(), calls_before);
    let out = fx.deploy(&["purge-cache", "stable", "--all", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let purged = json(&out);
    assert!(purged["purged"].as_array().unwrap().iter().any(|u| u == "https://stable.orochi.test/"), "{purged}");
    let calls = cf.calls();
    assert_eq!(calls.len(), calls_before + purged["calls"].as_u64().unwrap() as usize);
    assert!(calls[calls_before..].iter().all(|c| c.answered == 200), "{calls:?}");
    // Nothing changed since: no call.
    let out = fx.deploy(&["purge-cache", "stable", "--json"]).await;
    assert_eq!(json(&out)["skipped"], "no cached URL changed", "{}", text(&out));
}
