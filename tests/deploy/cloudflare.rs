//! A fake Cloudflare API (a real HTTP server on 127.0.0.1) and the purge tests against it.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use scitex_orochi::deploy::cloudflare::{CloudflareApi, CloudflareSettings};
use scitex_orochi::deploy::purge;

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub zone: String,
    pub authorization: String,
    pub files: Vec<String>,
    pub answered: u16,
}

#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Answer this many first requests with 429 and Retry-After: 1.
    rate_limit_first: Arc<Mutex<usize>>,
}

pub struct FakeCloudflare {
    pub base: String,
    fake: Fake,
}

impl FakeCloudflare {
    pub async fn start(rate_limit_first: usize) -> FakeCloudflare {
        let fake = Fake { rate_limit_first: Arc::new(Mutex::new(rate_limit_first)), ..Default::default() };
        let app = Router::new().route("/client/v4/zones/{zone}/purge_cache", post(purge_cache)).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeCloudflare { base: format!("http://{addr}/client/v4/"), fake }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.fake.calls.lock().unwrap().clone()
    }

    pub fn settings(&self) -> CloudflareSettings {
        CloudflareSettings { token: "cf-test-token".into(), zone_id: "zone123".into(), api_base: self.base.clone() }
    }
}

async fn purge_cache(State(fake): State<Fake>, Path(zone): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let files: Vec<String> = body["files"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect()).unwrap_or_default();
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let limited = {
        let mut left = fake.rate_limit_first.lock().unwrap();
        let limited = *left > 0;
        *left = left.saturating_sub(1);
        limited
    };
    let status = if limited { 429 } else if authorization != "Bearer cf-test-token" { 403 } else if files.len() > 30 { 400 } else { 200 };
    fake.calls.lock().unwrap().push(Call { zone: zone.clone(), authorization, files, answered: status });
    match status {
        429 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({"success": false, "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}], "messages": [], "result": null}))).into_response(),
        403 => (StatusCode::FORBIDDEN, Json(json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": null}))).into_response(),
        400 => (StatusCode::BAD_REQUEST, Json(json!({"success": false, "errors": [{"code": 1015, "message": "too many files"}], "messages": [], "result": null}))).into_response(),
        _ => Json(json!({"success": true, "errors": [], "messages": [], "result": {"id": zone}})).into_response(),
    }
}

#[tokio::test]
async fn purge_batches_by_30_and_waits_out_a_429() {
    let cf = FakeCloudflare::start(1).await;
    let urls: Vec<String> = (0..65).map(|i| format!("https://orochi.test/assets/{i}.js")).collect();
    let started = std::time::Instant::now();
    let batches = CloudflareApi::new(&cf.settings()).unwrap().purge(&urls).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_millis(950), "Retry-After: 1 was not honoured");
    assert_eq!(batches.iter().map(|b| b.urls.len()).collect::<Vec<_>>(), vec![30, 30, 5]);
    assert_eq!(batches[0].rate_limited, 1);
    let calls = cf.calls();
    assert_eq!(calls.iter().map(|c| c.answered).collect::<Vec<_>>(), vec![429, 200, 200, 200]);
    assert_eq!(calls[0].files, calls[1].files, "the rate-limited batch is sent again");
    let sent: Vec<String> = calls[1..].iter().flat_map(|c| c.files.clone()).collect();
    assert_eq!(sent, urls);
    assert!(calls.iter().all(|c| c.zone == "zone123" && c.authorization == "Bearer cf-test-token"));
}

#[tokio::test]
async fn refused_purge_is_an_error_with_cloudflares_message() {
    let cf = FakeCloudflare::start(0).await;
    let mut settings = cf.settings();
    settings.token = "wrong".into();
    let err = CloudflareApi::new(&settings).unwrap().purge(&["https://orochi.test/".into()]).await.unwrap_err().to_string();
    assert!(err.contains("403") && err.contains("Authentication error"), "{err}");
    assert!(!err.contains("wrong"), "the token leaked into {err}");
}

/// A stand-in for the hub's HTTP port: an index linking 40 assets, whose bytes a test changes.
async fn content_server(version: Arc<Mutex<u32>>) -> String {
    let index = || async {
        let links: String = (0..40).map(|i| format!("<script src=\"/static/a{i}.js\"></script>")).collect();
        ([("content-type", "text/html")], format!("<!doctype html><link rel=manifest href=\"/manifest.json\">{links}")).into_response()
    };
    let asset = move |Path(name): Path<String>| {
        let version = version.clone();
        async move {
            let v = *version.lock().unwrap();
            // a0..a2 change with the version; the others never do.
            let changes = ["a0.js", "a1.js", "a2.js"].contains(&name.as_str());
            format!("// {name} {}", if changes { v } else { 0 })
        }
    };
    let app = Router::new().route("/", get(index)).route("/manifest.json", get(|| async { "{}" })).route("/static/{name}", get(asset));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn only_changed_urls_are_purged() {
    let cf = FakeCloudflare::start(0).await;
    let version = Arc::new(Mutex::new(1));
    let hub = content_server(version.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("stable.cache-manifest.json");
    let paths = vec!["/".to_string(), "/sw.js".to_string(), "/manifest.json".to_string()];
    let public = "https://orochi.test";

    // First deploy: everything that answers (/, the manifest, 40 assets) in 30 + 12; /sw.js is a 404.
    let first = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), false, false).await.unwrap();
    assert_eq!((first.purged.len(), first.calls), (42, 2));
    assert!(!first.purged.contains(&"https://orochi.test/sw.js".to_string()));
    assert_eq!(cf.calls().iter().map(|c| c.files.len()).collect::<Vec<_>>(), vec![30, 12]);

    // Nothing changed: no call at all.
    let same = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), false, false).await.unwrap();
    assert_eq!(same.skipped.as_deref(), Some("no cached URL changed"));
    assert_eq!(cf.calls().len(), 2);

    // Three assets changed: exactly their URLs, in one call.
    *version.lock().unwrap() = 2;
    let changed = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), false, false).await.unwrap();
    let want: Vec<String> = (0..3).map(|i| format!("https://orochi.test/static/a{i}.js")).collect();
    assert_eq!(changed.purged, want);
    let calls = cf.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].files, want);

    // --all purges every answering URL again; without credentials nothing is sent.
    let all = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), true, false).await.unwrap();
    assert_eq!(all.purged.len(), 42);
    let none = purge::run(&hub, public, &paths, &manifest, None, true, false).await.unwrap();
    assert!(none.skipped.unwrap().contains("no Cloudflare credentials"));
    assert_eq!(cf.calls().len(), 5);
}
