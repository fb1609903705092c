//! The purge follows ES module imports: a page's module script, what it imports (statically,
//! dynamically, re-exported), and what those import, against the fake Cloudflare API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;

use scitex_orochi::deploy::purge;

use crate::cloudflare::FakeCloudflare;

type Files = Arc<Mutex<HashMap<String, String>>>;

/// A stand-in for the hub's HTTP port serving `files` (path → JavaScript) and an index page.
async fn module_server(files: Files) -> String {
    let index = || async { ([("content-type", "text/html")], r#"<!doctype html><script type="module" src="/js/main.js"></script>"#) };
    let module = |State(files): State<Files>, Path(rest): Path<String>| async move {
        match files.lock().unwrap().get(&format!("/js/{rest}")) {
            Some(js) => ([("content-type", "text/javascript")], js.clone()).into_response(),
            None => axum::http::StatusCode::NOT_FOUND.into_response(),
        }
    };
    let app = Router::new().route("/", get(index)).route("/js/{*rest}", get(module)).with_state(files);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn modules_imported_by_the_pages_scripts_are_purged_transitively() {
    let files: Files = Arc::new(Mutex::new(HashMap::from([
        ("/js/main.js".into(), "import { state } from './state.js';\nconst lazy = () => import(\"./panels/lazy.js\");".into()),
        ("/js/state.js".into(), "export * from \"./util/ids.js\";\nexport const state = {};".into()),
        // A cycle back to state.js, and an import of a module that does not exist.
        ("/js/util/ids.js".into(), "import { state } from '../state.js';\nimport '../missing.js';\nexport const id = 1;".into()),
        ("/js/panels/lazy.js".into(), "import { id } from '/js/util/ids.js';\nimport x from 'bare-package';".into()),
    ])));
    let hub = module_server(files.clone()).await;
    let cf = FakeCloudflare::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("stable.cache-manifest.json");
    let public = "https://orochi.test";
    let paths = vec!["/".to_string()];

    let first = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), false, false).await.unwrap();
    let mut purged = first.purged.clone();
    purged.sort();
    let want = ["/", "/js/main.js", "/js/panels/lazy.js", "/js/state.js", "/js/util/ids.js"].map(|p| format!("{public}{p}"));
    assert_eq!(purged, want, "the 404 /js/missing.js and the bare specifier are not purged");
    assert_eq!(cf.calls().len(), 1);

    // A module three imports deep changes: exactly its URL is purged.
    files.lock().unwrap().insert("/js/util/ids.js".into(), "import { state } from '../state.js';\nexport const id = 2;".into());
    let changed = purge::run(&hub, public, &paths, &manifest, Some(cf.settings()), false, false).await.unwrap();
    assert_eq!(changed.purged, vec![format!("{public}/js/util/ids.js")]);
    assert_eq!(cf.calls()[1].files, changed.purged);
}

#[tokio::test]
async fn a_module_graph_without_end_is_bounded() {
    // Every module imports the next one: an endless chain, cut at the bound.
    let hub = {
        let app = Router::new().route("/", get(|| async { ([("content-type", "text/html")], r#"<script type=module src="/js/m0.js"></script>"#) })).route(
            "/js/{name}",
            get(|Path(name): Path<String>| async move {
                let n: u64 = name.trim_start_matches('m').trim_end_matches(".js").parse().unwrap_or(0);
                ([("content-type", "application/javascript")], format!("import './m{}.js';", n + 1))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    };
    let dir = tempfile::tempdir().unwrap();
    let outcome = purge::run(&hub, "https://orochi.test", &["/".to_string()], &dir.path().join("m.json"), None, true, false).await.unwrap();
    let n = outcome.purged.len();
    assert!((100..=500).contains(&n), "{n} paths followed");
}
