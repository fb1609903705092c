//! How the dashboard is served: the page, its modules with JavaScript types, the manifest and
//! service worker, ETag revalidation, the page's security headers, no path traversal, and no
//! token needed for the shell (the data behind it needs one).

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::common::*;

async fn get(h: &TestHub, path: &str) -> reqwest::Response {
    reqwest::Client::new().get(h.http(path)).send().await.unwrap()
}

fn ct(r: &reqwest::Response) -> String {
    r.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

#[tokio::test]
async fn page_assets_manifest_and_worker() {
    let h = start_hub().await;
    let r = get(&h, "/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ct(&r), "text/html; charset=utf-8");
    let csp = r.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let html = r.text().await.unwrap();
    assert!(html.contains("<script type=\"module\" src=\"/static/js/main.js\">"));
    for tab in ["chat", "todo", "agents", "resources", "workspaces"] {
        assert!(html.contains(&format!("data-tab=\"{tab}\"")), "{tab} tab");
    }

    // Every module the page imports is served as JavaScript.
    let mut pending = vec!["/static/js/main.js".to_string()];
    let mut seen = Vec::new();
    let import = regex::Regex::new(r#"from '\./([\w-]+\.js)'"#).unwrap();
    while let Some(path) = pending.pop() {
        if seen.contains(&path) {
            continue;
        }
        let r = get(&h, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(ct(&r), "text/javascript; charset=utf-8", "{path}");
        let text = r.text().await.unwrap();
        pending.extend(import.captures_iter(&text).map(|c| format!("/static/js/{}", &c[1])));
        seen.push(path);
    }
    assert!(seen.len() >= 15, "the module graph: {seen:?}");

    for (path, want) in [
        ("/static/css/app.css", "text/css; charset=utf-8"),
        ("/static/orochi-icon.svg", "image/svg+xml"),
        ("/static/orochi-192.png", "image/png"),
        ("/sw.js", "text/javascript; charset=utf-8"),
        ("/manifest.json", "application/manifest+json"),
    ] {
        let r = get(&h, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(ct(&r), want, "{path}");
    }
    let manifest: Value = get(&h, "/manifest.json").await.json().await.unwrap();
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    let sw = get(&h, "/sw.js").await.text().await.unwrap();
    for want in ["addEventListener('push'", "addEventListener('notificationclick'", "(api|ws|media|healthz|metrics)"] {
        assert!(sw.contains(want), "sw.js has {want}");
    }
}

#[tokio::test]
async fn etag_revalidation_and_traversal() {
    let h = start_hub().await;
    let r = get(&h, "/static/js/main.js").await;
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
    let again = reqwest::Client::new().get(h.http("/static/js/main.js")).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = reqwest::Client::new().get(h.http("/static/js/main.js")).header(header::IF_NONE_MATCH, "\"other\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    for path in [
        "/static/js/..%2f..%2fCargo.toml", "/static/..%5cindex.html", "/static//js/main.js",
        "/static/nope.js", "/static/", "/static/js/..%2fapi.js", "/static/index.html",
    ] {
        assert_eq!(get(&h, path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // The shell is open; the data behind it is not.
    assert_eq!(get(&h, "/api/todos").await.status(), StatusCode::UNAUTHORIZED);
}
