//! `deploy rollback`: back to the previous image through the same health gate.

use super::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_returns_to_the_previous_image() {
    let image = shared_image().await;
    let fx = Fixture::new(20);
    let variant = variant_of(&image, &fx).await;

    let out = fx.deploy(&["stable", "--yes", "--no-purge"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let before = fx.observed("stable").await.unwrap();
    // Replacing a running container without --yes, and no terminal to ask on: refused, untouched.
    let out = fx.deploy(&["stable", "--no-purge", "--image", &variant]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(fx.observed("stable").await.unwrap().id, before.id);
    let out = fx.deploy(&["stable", "--yes", "--no-purge", "--image", &variant]).await;
    assert!(out.status.success(), "{}", text(&out));
    let on_variant = fx.observed("stable").await.unwrap();
    assert_eq!(on_variant.image, variant);
    assert_eq!(on_variant.labels.get("scitex.orochi.previous-image"), Some(&image));

    let out = fx.deploy(&["rollback", "stable", "--dry-run", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["image"], image.as_str());

    let out = fx.deploy(&["rollback", "stable", "--yes", "--no-purge", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let outcome = json(&out);
    assert_eq!((outcome["action"].as_str(), outcome["result"].as_str()), (Some("rollback"), Some("deployed")));
    let back = fx.observed("stable").await.unwrap();
    assert_eq!(back.image, image);
    assert_ne!(back.id, on_variant.id);
    assert_eq!(back.labels.get("scitex.orochi.previous-image"), Some(&variant));
    assert!(get(&format!("{}/healthz", fx.http("stable"))).await.status().is_success());
    let last = fx.audit().pop().unwrap();
    assert_eq!((last.action.as_str(), last.result.as_str(), last.image.as_str()), ("rollback", "ok", image.as_str()));
    // Back on the image the binary gives: plan is in sync again.
    assert_eq!(fx.deploy(&["plan", "stable"]).await.status.code(), Some(0));
    // Nothing to roll back to on an instance that was never deployed.
    assert_eq!(fx.deploy(&["rollback", "dev", "--yes"]).await.status.code(), Some(1));
}
