//! Deploys against the real Docker engine: wiring, swaps, the audit log, the health gate.

use super::cloudflare::FakeCloudflare;
use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_then_dev_are_wired_and_a_changed_env_swaps_the_container() {
    let image = shared_image().await;
    let cf = FakeCloudflare::start(0).await;
    let mut fx = Fixture::new(20);
    fx.env = vec![
        ("SCITEX_OROCHI_CLOUDFLARE_API_TOKEN".into(), "cf-test-token".into()),
        ("SCITEX_OROCHI_CLOUDFLARE_ZONE_ID".into(), "zone123".into()),
        ("SCITEX_OROCHI_CLOUDFLARE_API_BASE".into(), cf.base.clone()),
    ];

    let out = fx.deploy(&["stable", "--yes", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let first = json(&out);
    assert_eq!(first["result"], "deployed");
    assert_eq!(first["image"], image.as_str(), "the CLI packages the same binary the tests built");
    let out = fx.deploy(&["dev", "--yes", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));

    // Both answer from outside the containers.
    for instance in ["stable", "dev"] {
        let r = get(&format!("{}/healthz", fx.http(instance))).await;
        assert!(r.status().is_success(), "{instance} /healthz: {}", r.status());
    }
    // dev's dashboard is wired to stable's public dashboard URL, as the spec declares it (the
    // observer socket /ws and REST live there, not on the agent socket) ...
    let spec = scitex_orochi::deploy::spec::Spec::load(&fx.spec_path()).unwrap();
    let stable_dashboard = spec.instance("stable").unwrap().public_url.clone();
    assert_ne!(stable_dashboard, spec.instance("stable").unwrap().public_ws_url);
    let dev_container = fx.observed("dev").await.unwrap();
    let upstream = dev_container.env.iter().find(|(k, _)| k == scitex_orochi::deploy::spec::WS_UPSTREAM).map(|(_, v)| v.as_str());
    assert_eq!(upstream, Some(stable_dashboard.as_str()), "dev container env: {:?}", dev_container.env);
    let config: serde_json::Value = get(&format!("{}/api/config", fx.http("dev"))).await.json().await.unwrap();
    assert_eq!(config["ws_upstream"], stable_dashboard.as_str());
    // ... and stable admits dev's origin (preflight and a real request).
    let client = reqwest::Client::new();
    let pre = client
        .request(reqwest::Method::OPTIONS, format!("{}/api/agents", fx.http("stable")))
        .header("Origin", "https://dev.orochi.test")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("https://dev.orochi.test"));
    let foreign = client.get(format!("{}/healthz", fx.http("stable"))).header("Origin", "https://evil.test").send().await.unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
    // ... and so does its observer socket (browsers apply no CORS to WebSockets).
    let observer = |origin: &'static str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/ws?token={ADMIN_TOKEN}", fx.http("stable").replace("http", "ws")).into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        async move {
            match tokio_tungstenite::connect_async(req).await {
                Ok((_, r)) => r.status().as_u16(),
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(observer("https://dev.orochi.test").await, 101);
    assert_eq!(observer("https://evil.test").await, 403);

    // The purge reached the fake Cloudflare: token, zone, each instance's answering page.
    // (Which pages and assets answer depends on the dashboard; "/" always does.)
    let calls = cf.calls();
    assert!(calls.iter().all(|c| c.authorization == "Bearer cf-test-token" && c.zone == "zone123" && c.answered == 200), "{calls:?}");
    assert!(calls.iter().all(|c| !c.files.is_empty() && c.files.len() <= 30), "{calls:?}");
    let purged: Vec<&String> = calls.iter().flat_map(|c| &c.files).collect();
    for origin in ["https://stable.orochi.test/", "https://dev.orochi.test/"] {
        assert!(purged.contains(&&origin.to_string()), "{origin} not purged: {purged:?}");
    }
    assert!(purged.iter().all(|u| u.starts_with("https://stable.orochi.test/") || u.starts_with("https://dev.orochi.test/")));
    let first_calls = calls.len();
    // The Cloudflare token never reaches a container.
    let stable = fx.observed("stable").await.unwrap();
    assert!(stable.env.iter().all(|(k, _)| !k.contains("CLOUDFLARE")), "{:?}", stable.env);

    // doctor sees both instances, healthy and wired.
    let out = fx
        .raw(&["doctor", "--json", "--spec", &fx.spec_path().display().to_string()])
        .await;
    let report = json(&out);
    let status = |name: &str| report["checks"].as_array().unwrap().iter().find(|c| c["check"] == name).map(|c| c["status"].clone());
    assert_eq!(status("instance stable").unwrap(), "ok", "{report}");
    assert_eq!(status("wiring dev->stable").unwrap(), "ok", "{report}");
    assert_eq!(status("docker").unwrap(), "ok", "{report}");

    // A second deploy with a changed env swaps the container; the audit log records both.
    fx.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_LOG=info\nSCITEX_OROCHI_RETENTION_MAX_ROWS=1000\n"));
    let out = fx.deploy(&["stable", "--yes", "--json", "--timings"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let second = json(&out);
    assert_eq!(second["result"], "deployed");
    assert!(second["changes"].as_array().unwrap().iter().any(|c| c["field"] == "env SCITEX_OROCHI_RETENTION_MAX_ROWS"), "{second}");
    let gap = second["timings"]["cutover_gap_ms"].as_u64().expect("a gap is measured when an old container answered");
    let healthy = second["timings"]["deploy_to_healthy_ms"].as_u64().unwrap();
    eprintln!("cut-over gap {gap} ms, deploy to healthy {healthy} ms (debug build, image present)");
    let swapped = fx.observed("stable").await.unwrap();
    assert_ne!(swapped.id, stable.id);
    // The port holder kept the ports across the swap; the new hub joined its network.
    let holder = fx.observed("stable-ports").await.expect("a port holder publishes the ports");
    assert!(holder.running && holder.ports.iter().any(|p| p.host_port == fx.stable.http), "{holder:?}");
    assert_eq!(swapped.network_mode, format!("container:{}", holder.id));
    assert!(swapped.running);
    assert!(swapped.env.contains(&("SCITEX_OROCHI_RETENTION_MAX_ROWS".into(), "1000".into())));
    assert!(fx.observed("stable").await.is_some() && super::common::docker_has_no(&fx.container("stable-next")).await);
    assert!(get(&format!("{}/healthz", fx.http("stable"))).await.status().is_success());

    let audit: Vec<_> = fx.audit().into_iter().filter(|r| r.instance == "stable").collect();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|r| r.result == "ok" && r.action == "deploy" && r.image == image && !r.who.is_empty()));
    assert_ne!(audit[0].env_hash, audit[1].env_hash);
    assert_eq!(audit[0].env_hash, first["env_hash"].as_str().unwrap());
    assert_eq!(audit[1].gap_ms, Some(gap));
    // The same binary serves the same bytes: nothing more to purge.
    assert_eq!(cf.calls().len(), first_calls);
    assert_eq!(second["purge"]["skipped"], "no cached URL changed", "{second}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_gate_leaves_the_old_container_serving() {
    shared_image().await;
    let fx = Fixture::new(20);
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let before = fx.observed("stable").await.unwrap();

    // Valid per the table, but the hub then refuses every register frame (larger than 4 x 64
    // bytes closes the socket): /healthz passes, the WebSocket half of the gate does not.
    fx.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_MAX_FRAME_BYTES=64\n"));
    let out = fx.deploy(&["stable", "--yes", "--deadline", "3", "--json"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let outcome = json(&out);
    assert_eq!(outcome["result"], "restored");
    assert!(outcome["reason"].as_str().unwrap().contains("WebSocket register"), "{outcome}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("health gate failed"), "{}", text(&out));

    let after = fx.observed("stable").await.unwrap();
    assert_eq!(after.id, before.id, "the old container is the one serving");
    assert!(after.running);
    assert!(!after.env.iter().any(|(k, _)| k == "SCITEX_OROCHI_MAX_FRAME_BYTES"));
    assert!(get(&format!("{}/healthz", fx.http("stable"))).await.status().is_success());
    assert!(super::common::docker_has_no(&fx.container("stable-next")).await, "the failed container was removed");
    let last = fx.audit().pop().unwrap();
    assert_eq!((last.result.as_str(), last.action.as_str()), ("restored", "deploy"));
    assert!(last.reason.unwrap().contains("WebSocket"));

    // An invalid env file touches nothing: exit 5, same container, no audit line.
    fx.write_env("stable", "SCITEX_OROCHI_ADMIN_TOKEN=change-me\nSCITEX_OROCHI_PORT=99999\n");
    let lines = fx.audit().len();
    let out = fx.deploy(&["stable", "--yes"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stable.env:2") && err.contains("SCITEX_OROCHI_PORT"), "{err}");
    assert!(!err.contains("change-me"), "a secret value was printed: {err}");
    assert_eq!(fx.observed("stable").await.unwrap().id, before.id);
    assert_eq!(fx.audit().len(), lines);
}
