//! `replicas = N`: N hub containers of one instance, deployed one at a time through the health
//! gate while a poller checks that one of them serves at every probe, rolled back together
//! when one fails, scaled down, listed by `deploy status`. The replicas share the fixture's
//! SQLite database through the spec's test-only `allow_sqlite_replicas` (the rolling
//! mechanics do not depend on the store).

use std::time::Duration;

use tokio::sync::watch;

use super::common::*;

/// Probes every replica's `/healthz` until stopped; one row of answers per round.
pub(super) fn poll(urls: Vec<String>, stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<Vec<Vec<bool>>> {
    tokio::spawn(async move {
        // Generous: a slow answer is still an answer; a stopped replica refuses at once.
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(0).build().unwrap();
        let mut rounds = Vec::new();
        while !*stop.borrow() {
            let answers = futures_util::future::join_all(urls.iter().map(|u| client.get(u).send())).await;
            rounds.push(answers.into_iter().map(|a| a.is_ok_and(|r| r.status().is_success())).collect());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        rounds
    })
}

fn replicas_of(outcome: &serde_json::Value) -> Vec<(String, String)> {
    outcome["replicas"].as_array().unwrap().iter().map(|r| (r["action"].as_str().unwrap().to_string(), r["result"].as_str().unwrap().to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_roll_one_at_a_time_and_scale_down() {
    let image = shared_image().await;
    let fx = Fixture::replicated(20, 2);
    let variant = variant_of(&image, &fx).await;
    let (c0, h0) = fx.stable_replica(0);
    let (c1, h1) = fx.stable_replica(1);

    // A dry run lists each replica's action.
    let out = fx.deploy(&["stable", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(replicas_of(&json(&out)), [("add".into(), "planned".into()), ("add".into(), "planned".into())]);

    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let first = json(&out);
    assert_eq!(first["result"], "deployed");
    assert_eq!(replicas_of(&first), [("add".into(), "deployed".into()), ("add".into(), "deployed".into())]);
    for (container, healthz) in [(&c0, &h0), (&c1, &h1)] {
        let o = fx.observed_name(container).await.unwrap_or_else(|| panic!("{container} runs"));
        assert!(o.running && o.image == image, "{container}: {o:?}");
        assert!(get(healthz).await.status().is_success(), "{healthz}");
    }
    let before = (fx.observed_name(&c0).await.unwrap(), fx.observed_name(&c1).await.unwrap());
    assert_eq!(before.0.binds, before.1.binds, "one data folder");

    // status --json: one row per replica, with its engine, health and ports.
    let out = fx.deploy(&["status", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = json(&out).as_array().unwrap().iter().filter(|r| r["instance"] == "stable").cloned().collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["replica"], i);
        assert_eq!(row["container"], [&c0, &c1][i].as_str());
        assert_eq!(row["engine"], "default");
        assert_eq!((row["state"].as_str(), row["image"].as_str(), row["drift"].as_str()), (Some("running"), Some(image.as_str()), Some("in sync")), "{row}");
        assert!(!row["health"].as_str().unwrap().is_empty(), "{row}");
        let ports: Vec<u64> = row["ports"].as_array().unwrap().iter().map(|p| p["host_port"].as_u64().unwrap()).collect();
        assert!(ports.contains(&u64::from(fx.stable.http + i as u16)) && ports.contains(&u64::from(fx.stable.ws + i as u16)), "{row}");
    }

    // Each replica's output; a replica the spec does not have is a usage error.
    let out = fx.deploy(&["logs", "stable", "--replica", "1", "--tail", "all"]).await;
    assert!(out.status.success() && !out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(fx.deploy(&["logs", "stable", "--replica", "2"]).await.status.code(), Some(2));

    // A new image rolls them one at a time: some replica answers at every probe.
    let (stop_tx, stop) = watch::channel(false);
    let poller = poll(vec![h0.clone(), h1.clone()], stop);
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json", "--image", &variant]).await;
    stop_tx.send(true).unwrap();
    let rounds = poller.await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let rolled = json(&out);
    assert_eq!(replicas_of(&rolled), [("replace".into(), "deployed".into()), ("replace".into(), "deployed".into())]);
    assert!(rounds.len() > 10, "the poller ran through the deploy: {} rounds", rounds.len());
    let dark: Vec<usize> = rounds.iter().enumerate().filter(|(_, r)| !r.iter().any(|ok| *ok)).map(|(i, _)| i).collect();
    assert!(dark.is_empty(), "no replica answered at probes {dark:?} of {}", rounds.len());
    // One at a time: every probe that found replica 0 down came before any that found replica 1 down.
    let last_down_0 = rounds.iter().rposition(|r| !r[0]);
    let first_down_1 = rounds.iter().position(|r| !r[1]);
    if let (Some(a), Some(b)) = (last_down_0, first_down_1) {
        assert!(a < b, "replica 0 was down at probe {a}, after replica 1 went down at probe {b}");
    }
    let after = (fx.observed_name(&c0).await.unwrap(), fx.observed_name(&c1).await.unwrap());
    assert!(after.0.id != before.0.id && after.1.id != before.1.id, "both were replaced");
    assert_eq!((after.0.image.as_str(), after.1.image.as_str()), (variant.as_str(), variant.as_str()));
    assert_eq!(after.1.labels.get("scitex.orochi.previous-image"), Some(&image));
    for leftover in [format!("{c0}-prev"), format!("{c1}-prev"), format!("{c0}-next"), format!("{c1}-next")] {
        assert!(docker_has_no(&leftover).await, "{leftover} was removed");
    }
    let down = |i: usize| rounds.iter().filter(|r| !r[i]).count();
    eprintln!(
        "rolling deploy of 2 replicas: {} probes, replica 0 down in {}, replica 1 down in {}, both in 0; controller: instance gap {}, replica gaps {} / {} ms, total {} ms",
        rounds.len(),
        down(0),
        down(1),
        rolled["timings"]["cutover_gap_ms"],
        rolled["replicas"][0]["gap_ms"],
        rolled["replicas"][1]["gap_ms"],
        rolled["timings"]["total_ms"]
    );

    // deploy rollback returns both to the previous image, rolling again.
    let out = fx.deploy(&["rollback", "stable", "--yes", "--no-purge", "--timings"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("instance gap"), "{}", text(&out));
    let back = (fx.observed_name(&c0).await.unwrap(), fx.observed_name(&c1).await.unwrap());
    assert_eq!((back.0.image.as_str(), back.1.image.as_str()), (image.as_str(), image.as_str()));

    // Scale 2 -> 1: replica 1 and its port holder go, replica 0 is not touched.
    let spec = std::fs::read_to_string(fx.spec_path()).unwrap().replace("replicas = 2", "replicas = 1");
    std::fs::write(fx.spec_path(), spec).unwrap();
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(replicas_of(&json(&out)), [("keep".into(), "unchanged".into()), ("remove".into(), "removed".into())]);
    assert!(docker_has_no(&c1).await && docker_has_no(&format!("{c1}-ports")).await);
    assert_eq!(fx.observed_name(&c0).await.unwrap().id, back.0.id);
    let out = fx.deploy(&["status", "--json"]).await;
    assert_eq!(json(&out).as_array().unwrap().iter().filter(|r| r["instance"] == "stable").count(), 1);
    let out = fx.deploy(&["status"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains(&c0) && !table.contains(&c1), "{}", text(&out));
    assert_eq!(fx.deploy(&["plan", "stable"]).await.status.code(), Some(0), "in sync after scaling down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_on_the_second_replica_rolls_both_back() {
    let image = shared_image().await;
    let fx = Fixture::replicated(20, 2);
    let variant = variant_of(&image, &fx).await;
    let (c0, h0) = fx.stable_replica(0);
    let (c1, h1) = fx.stable_replica(1);
    // Two engines by name, round-robin: two spellings of this machine's engine.
    let engines = ["/var/run/docker.sock", "unix:///var/run/docker.sock"];
    let spec = std::fs::read_to_string(fx.spec_path()).unwrap();
    std::fs::write(fx.spec_path(), spec.replace("replicas = 2\n", &format!("replicas = 2\nengines = {engines:?}\n"))).unwrap();
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let placed: Vec<String> = json(&out)["replicas"].as_array().unwrap().iter().map(|r| r["engine"].as_str().unwrap().to_string()).collect();
    assert_eq!(placed, engines);
    let before = (fx.observed_name(&c0).await.unwrap(), fx.observed_name(&c1).await.unwrap());

    // Replica 1's new container dies as soon as it exists (after replica 0 passed its gate):
    // removed before it starts, or killed before the hub inside answers.
    let killer = {
        let next = format!("{c1}-next");
        tokio::spawn(async move {
            let docker = docker().await;
            loop {
                if scitex_orochi::deploy::docker::inspect(&docker, &next).await.unwrap().is_some() {
                    scitex_orochi::deploy::docker::remove(&docker, &next).await.unwrap();
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json", "--image", &variant, "--deadline", "10"]).await;
    killer.await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let outcome = json(&out);
    assert_eq!(outcome["result"], "rolled-back", "{outcome}");
    assert_eq!(replicas_of(&outcome), [("replace".into(), "rolled-back".into()), ("replace".into(), "restored".into())]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("every replica"), "{}", text(&out));

    // Both old containers (their ids, image and env) serve again; nothing else is left.
    for (old, (container, healthz)) in [(&before.0, (&c0, &h0)), (&before.1, (&c1, &h1))] {
        let now = fx.observed_name(container).await.unwrap();
        assert_eq!((now.id.as_str(), now.image.as_str()), (old.id.as_str(), image.as_str()), "{container}");
        assert!(now.running);
        assert!(get(healthz).await.status().is_success(), "{healthz}");
        for leftover in [format!("{container}-prev"), format!("{container}-next")] {
            assert!(docker_has_no(&leftover).await, "{leftover} was removed");
        }
    }
    let last = fx.audit().pop().unwrap();
    assert_eq!((last.result.as_str(), last.image.as_str()), ("rolled-back", variant.as_str()));

    // A change every replica fails (the hub then refuses every register frame): the first
    // replica's gate fails, its old container serves again, the second is not touched.
    fx.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_MAX_FRAME_BYTES=64\n"));
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--json", "--deadline", "3"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let outcome = json(&out);
    assert_eq!(outcome["result"], "restored", "{outcome}");
    assert_eq!(replicas_of(&outcome), [("replace".into(), "restored".into()), ("replace".into(), "unchanged".into())]);
    assert_eq!(fx.observed_name(&c0).await.unwrap().id, before.0.id);
    assert_eq!(fx.observed_name(&c1).await.unwrap().id, before.1.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_settings_are_checked_before_anything_is_touched() {
    let fx = Fixture::replicated(20, 2);
    let spec = std::fs::read_to_string(fx.spec_path()).unwrap();
    for (replicas, words) in [("replicas = 0", "1 to 16"), ("replicas = 17", "1 to 16")] {
        std::fs::write(fx.spec_path(), spec.replace("replicas = 2", replicas)).unwrap();
        let out = fx.deploy(&["plan", "stable"]).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(words), "{}", text(&out));
    }
    // Two replicas on the SQLite file, without the test-only escape: refused, with the fix.
    std::fs::write(fx.spec_path(), spec.replace("allow_sqlite_replicas = true\n", "")).unwrap();
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SCITEX_OROCHI_DB=postgres://") && err.contains("stable.env") && err.contains("replicas = 1"), "{err}");
    assert!(docker_has_no(&fx.container("stable")).await && !fx.state_dir().exists(), "nothing touched");

    // A PostgreSQL URL through a socket folder the containers do not have: refused, with the fix.
    let server = crate::pg::shared();
    let url = format!("postgres://orochi:a-long-database-password@/orochi?host={PG_SOCKET_MOUNT}&port={}", server.port);
    fx.write_env("stable", &format!("SCITEX_OROCHI_ADMIN_TOKEN={ADMIN_TOKEN}\nSCITEX_OROCHI_DB={url}\n"));
    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not bound") && err.contains(&format!("HOST_FOLDER:{PG_SOCKET_MOUNT}")) && !err.contains("a-long-database-password"), "{err}");
    assert!(docker_has_no(&fx.container("stable")).await && !fx.state_dir().exists(), "nothing touched");

    // With the server's socket folder bound the spec is accepted: the dry run plans two
    // replicas, and validate-env takes the URL for the store, not for a managed value it would ignore.
    std::fs::write(fx.spec_path(), spec.replace("allow_sqlite_replicas = true\n", &pg_socket_bind(server))).unwrap();
    let out = fx.deploy(&["stable", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["replicas"].as_array().unwrap().len(), 2);
    assert!(!text(&out).contains("a-long-database-password"), "{}", text(&out));
    let out = fx.raw(&["validate-env", "--instance", "stable", "--spec", &fx.spec_path().display().to_string()]).await;
    assert!(out.status.success() && !text(&out).contains("ignored"), "{}", text(&out));
}
