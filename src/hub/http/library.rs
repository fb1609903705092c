//! `/skills`, `/docs` (rendered pages with a search box) and `/api/skills`, `/api/docs`. The
//! content ships in the binary and holds no secrets, so these routes are open like static assets.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::ApiError;
use crate::hub::HubState;
use crate::library::{Entry, LibraryError, Shelf, library, to_html};

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/skills", get(|q| index(Shelf::Skills, q)))
        .route("/skills/{name}", get(|p| page(Shelf::Skills, p)))
        .route("/docs", get(|q| index(Shelf::Docs, q)))
        .route("/docs/{name}", get(|p| page(Shelf::Docs, p)))
        .route("/api/skills", get(|q| list(Shelf::Skills, q)))
        .route("/api/skills/{name}", get(|p| one(Shelf::Skills, p)))
        .route("/api/docs", get(|q| list(Shelf::Docs, q)))
        .route("/api/docs/{name}", get(|p| one(Shelf::Docs, p)))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    pulldown_cmark_escape::escape_html(&mut out, s).expect("writing to a String cannot fail");
    out
}

fn layout(shelf: Shelf, title: &str, query: &str, main: &str) -> Html<String> {
    let label = shelf.label();
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
<title>{title} · Orochi {label}</title><style>\
body{{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;background:#0a0a0a;color:#ddd}}\
a{{color:#4ecdc4}}code,pre{{background:#1a1a1a;border-radius:4px}}pre{{padding:.6rem;overflow:auto}}\
table{{border-collapse:collapse}}td,th{{border:1px solid #333;padding:.2rem .5rem}}\
input{{font:inherit;padding:.3rem;width:20rem;background:#111;color:#ddd;border:1px solid #444}}\
li small{{color:#999}}</style></head><body>\
<nav><a href=\"/{label}\">{label}</a> · <a href=\"/{other}\">{other}</a></nav>\
<form action=\"/{label}\"><input name=q value=\"{q}\" placeholder=\"search {label}\" aria-label=search> <button>Search</button></form>\
{main}</body></html>",
        title = esc(title),
        other = if shelf == Shelf::Skills { "docs" } else { "skills" },
        q = esc(query),
    ))
}

fn item(shelf: Shelf, e: &Entry) -> String {
    let href = format!("/{}/{}", shelf.label(), url::form_urlencoded::byte_serialize(e.name.as_bytes()).collect::<String>());
    format!("<li><a href=\"{href}\">{}</a><br><small>{}</small></li>", esc(&e.name), esc(&e.description))
}

/// Searches off the async workers: ranking is bounded, but still whole milliseconds of CPU.
async fn search(shelf: Shelf, query: String) -> Result<Vec<(f64, &'static Entry)>, LibraryError> {
    tokio::task::spawn_blocking(move || library(shelf).search(&query)).await.expect("search does not panic")
}

async fn index(shelf: Shelf, Query(q): Query<HashMap<String, String>>) -> Response {
    let query = q.get("q").map(|s| s.trim()).unwrap_or("").to_string();
    let items: Vec<String> = if query.is_empty() {
        library(shelf).entries().iter().map(|e| item(shelf, e)).collect()
    } else {
        match search(shelf, query.clone()).await {
            Ok(hits) => hits.into_iter().map(|(_, e)| item(shelf, e)).collect(),
            Err(e) => {
                let page = layout(shelf, shelf.label(), "", &format!("<h1>{}</h1><p>{}</p>", shelf.label(), esc(&e.to_string())));
                return (StatusCode::BAD_REQUEST, page).into_response();
            }
        }
    };
    let body = if items.is_empty() {
        format!("<p>Nothing matches “{}”.</p>", esc(&query))
    } else {
        format!("<ul>{}</ul>", items.concat())
    };
    layout(shelf, shelf.label(), &query, &format!("<h1>{}</h1>{body}", shelf.label())).into_response()
}

async fn page(shelf: Shelf, Path(name): Path<String>) -> Response {
    match library(shelf).get(&name) {
        Ok(e) => layout(shelf, &e.name, "", &to_html(&e.body)).into_response(),
        Err(err) => (StatusCode::NOT_FOUND, layout(shelf, "not found", "", &format!("<p>{}</p>", esc(&err.to_string())))).into_response(),
    }
}

async fn list(shelf: Shelf, Query(q): Query<HashMap<String, String>>) -> Result<Json<Value>, ApiError> {
    match q.get("q").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(query) => {
            let hits = search(shelf, query.to_string()).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
            let rows: Vec<Value> =
                hits.into_iter().map(|(score, e)| json!({"name": e.name, "description": e.description, "tags": e.tags, "score": score})).collect();
            Ok(Json(json!(rows)))
        }
        None => Ok(Json(json!(library(shelf).entries()))),
    }
}

async fn one(shelf: Shelf, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let e = library(shelf).get(&name).map_err(|e| ApiError::not_found(e.to_string()))?;
    Ok(Json(json!({"name": e.name, "description": e.description, "tags": e.tags, "markdown": e.body, "html": to_html(&e.body)})))
}
