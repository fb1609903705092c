//! The web dashboard: plain HTML/CSS/JS modules from `assets/dashboard/`, embedded in the
//! binary (debug builds too). `/` is the page, `/static/*` its assets, `/manifest.json` and
//! `/sw.js` make it an installable PWA. Every response carries a strong ETag (SHA-256 of the
//! file) and `Cache-Control: no-cache`, so browsers revalidate and a new binary takes effect
//! on the next load without serving stale modules.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::hub::HubState;

#[derive(RustEmbed)]
#[folder = "assets/dashboard/"]
struct Assets;

/// The page's policy: scripts and styles only from this origin (no inline code), images
/// from here or blob URLs (media fetched with the token header), connections anywhere over
/// HTTP(S)/WS(S) because dev mode talks to the upstream hub.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
     connect-src 'self' http: https: ws: wss:; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { asset("index.html", &h) }))
        .route("/index.html", get(|h: HeaderMap| async move { asset("index.html", &h) }))
        .route("/manifest.json", get(|h: HeaderMap| async move { asset("manifest.json", &h) }))
        .route("/sw.js", get(|h: HeaderMap| async move { asset("sw.js", &h) }))
        .route("/favicon.ico", get(|h: HeaderMap| async move { asset("static/orochi-icon.svg", &h) }))
        .route("/static/{*path}", get(static_file))
}

async fn static_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\')) {
        return not_found();
    }
    asset(&format!("static/{path}"), &headers)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Not found").into_response()
}

/// The content type by extension; JavaScript must be a JavaScript type for module scripts.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") if path.ends_with("manifest.json") => "application/manifest+json",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str, req: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else { return not_found() };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if path.ends_with(".html") {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if path == "sw.js" {
        headers.insert("service-worker-allowed", HeaderValue::from_static("/"));
    }
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    (headers, file.data.into_owned()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_with_known_types() {
        let files: Vec<String> = Assets::iter().map(|p| p.into_owned()).collect();
        for must in ["index.html", "manifest.json", "sw.js", "static/js/main.js", "static/css/app.css", "static/orochi-icon.svg"] {
            assert!(files.iter().any(|f| f == must), "{must} is embedded: {files:?}");
        }
        for f in &files {
            assert_ne!(content_type(f), "application/octet-stream", "{f} has a known content type");
        }
    }
}
