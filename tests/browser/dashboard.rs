//! The whole dashboard in one browser session: sign in, live state and version, the five
//! tabs, chat both ways, history and resume, TODO, agents, resources, workspaces, dev mode
//! against an upstream hub, and finally the hub stopping under the page.

use std::time::Instant;

use serde_json::{Value, json};

use crate::common::*;
use crate::driver::Browser;
use crate::{chat, panels, push};

pub const ME: &str = "ywatanabe";

/// Messages stored in `#history` before the page loads, to page through.
pub const HISTORY: u64 = 120;

/// Signs in on the page at `url` and waits for the live socket.
pub async fn sign_in(b: &Browser, url: &str, token: &str) {
    b.goto(url).await;
    b.wait_js("the token form", "!document.getElementById('login').hidden").await;
    b.type_into("#login-form input[name=token]", token).await;
    b.find("#login-form input[name=name]").await.clear().await.unwrap();
    b.type_into("#login-form input[name=name]", ME).await;
    b.click("#login-form button[type=submit]").await;
    wait_live(b).await;
}

pub async fn wait_live(b: &Browser) {
    b.wait_js("ws: live", "document.getElementById('conn-status').textContent === 'ws: live'").await;
}

/// Uncaught errors the page recorded (see main.js).
pub async fn page_errors(b: &Browser) -> Vec<Value> {
    b.js("return window.orochiErrors || []").await.as_array().cloned().unwrap_or_default()
}

async fn heartbeat(worker: &mut Peer) {
    worker
        .send(json!({"type": "heartbeat", "sender": "worker-1", "id": "hb-1", "payload": {
            "cpu_count": 8, "load_avg_1m": 6.4, "load_avg_5m": 5.0, "mem_used_percent": 85.0,
            "mem_total_mb": 32768, "mem_free_mb": 4915, "disk_used_percent": 41.5, "cpu_model": "Test CPU @ 3 GHz",
            "cluster_gpus_total": 4, "cluster_gpus_allocated": 3, "slurm_running": 2, "slurm_pending": 5, "slurm_total_jobs": 7,
            "current_task": "reviewing PR 7"}}))
        .await;
    worker.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "hb-1").await;
}

async fn fill_history(h: &TestHub) {
    let http = reqwest::Client::new();
    for i in 1..=HISTORY {
        let body = json!({"sender": "history-bot", "payload": {"channel": "#history", "content": format!("history message {i}")}});
        let r = http.post(h.http("/api/messages")).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
}

/// The pure helpers, run in the page: the markdown subset and the upstream URL rules.
async fn unit_checks(b: &Browser) {
    let v = b
        .js(r#"return (async () => {
            const md = await import('/static/js/markdown.js');
            const api = await import('/static/js/api.js');
            const loc = { protocol: 'http:', host: 'dev:8559' };
            return {
              script: md.render('<script>alert(1)</script>'),
              img: md.render('<img src=x onerror=alert(1)>'),
              js: md.render('[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html,hi)'),
              quote: md.render('[x](https://a.org/"onmouseover="alert(1))'),
              ok: md.render('**b** _i_ ~~s~~ `c<d>` [site](https://a.org/?q=1&r=2) mail me@x @bob @me', { me: 'me' }),
              fence: md.render('```rust\n<b>x</b>\n**not bold**\n```'),
              wss: api.bases('wss://orochi.example.org', loc),
              https: api.bases('https://orochi.example.org/', loc),
              wsPath: api.bases('ws://stable:8559/ws', loc),
              own: api.bases('', { protocol: 'https:', host: 'h' }),
              bad: api.bases('javascript:alert(1)', loc),
              media: [api.hubMediaUrl('/media/2026-01/x.png'), api.hubMediaUrl('/media/../x'), api.hubMediaUrl('https://evil/x.png'), api.externalUrl('javascript:alert(1)')],
            };
        })()"#)
        .await;
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    assert_eq!(s("script"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert!(s("img").starts_with("&lt;img") && !s("img").contains("<img"), "{}", s("img"));
    assert!(!s("js").contains("href"), "no javascript:/data: links: {}", s("js"));
    assert!(!s("quote").contains("\"onmouseover"), "{}", s("quote"));
    let ok = s("ok");
    for want in [
        "<strong>b</strong>", "<em>i</em>", "<del>s</del>", "<code>c&lt;d&gt;</code>",
        "<a href=\"https://a.org/?q=1&amp;r=2\" target=\"_blank\" rel=\"noopener noreferrer nofollow\">site</a>",
        "<span class=\"mention\">@bob</span>", "<span class=\"mention me\">@me</span>",
    ] {
        assert!(ok.contains(want), "{want} in {ok}");
    }
    assert!(s("fence").contains("&lt;b&gt;x&lt;/b&gt;") && !s("fence").contains("<strong>"), "{}", s("fence"));
    assert_eq!(v["wss"], json!({"api": "https://orochi.example.org", "ws": "wss://orochi.example.org", "upstream": "orochi.example.org"}));
    assert_eq!(v["https"], v["wss"]);
    assert_eq!(v["wsPath"], json!({"api": "http://stable:8559", "ws": "ws://stable:8559", "upstream": "stable:8559"}));
    assert_eq!(v["own"], json!({"api": "", "ws": "wss://h", "upstream": ""}));
    assert_eq!(v["bad"], json!({"api": "", "ws": "ws://dev:8559", "upstream": ""}));
    assert_eq!(v["media"], json!(["/media/2026-01/x.png", null, null, null]));
}

/// A second hub whose config points at `stable`, on the port `stable`'s CORS list names.
async fn dev_hub(stable: &TestHub, dev_port: u16) -> TestHub {
    let upstream = format!("ws://{}", stable.hub.http_addr);
    start_hub_with(|c| {
        c.dashboard_port = dev_port;
        c.admin_token = "dev-only-token".into();
        c.dashboard_ws_upstream = upstream;
    })
    .await
}

/// Dev mode: the page served by the dev hub observes and posts to the stable one (whose CORS
/// allows the dev origin).
async fn dev_mode(b: &Browser, stable: &TestHub, dev: TestHub, worker: &mut Peer) {
    sign_in(b, &dev.http("/"), ADMIN).await;
    let badge = b.wait_js("the upstream badge", "!document.getElementById('upstream').hidden && document.getElementById('upstream').textContent").await;
    assert_eq!(badge, json!(format!("dev → {}", stable.hub.http_addr)));
    b.type_into("#msg-input", &format!("hello stable, from the dev dashboard{}", crate::driver::ENTER)).await;
    let got = worker.recv_until(|f| f["type"] == "message" && f["sender"] == ME).await;
    assert_eq!(got["payload"]["content"], "hello stable, from the dev dashboard");
    b.wait_js("the message echoed from stable", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent.includes('from the dev dashboard'))").await;
    let r = reqwest::Client::new().get(dev.http("/api/history/general")).bearer_auth("dev-only-token").send().await.unwrap();
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 0, "the dev hub stored nothing");
    assert_eq!(page_errors(b).await, Vec::<Value>::new());
    b.screenshot("dev-mode").await;
    dev.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_end_to_end() {
    let started = Instant::now();
    let dev_port = free_port();
    let h = start_hub_with(|c| c.cors_origins = vec![format!("http://127.0.0.1:{dev_port}")]).await;
    // The dev hub binds its port now: a port found free stays free only until something else
    // takes it, and the scenario before dev mode is long ("Address already in use" when the
    // dev hub was started there).
    let dev = dev_hub(&h, dev_port).await;
    let (b, ()) = tokio::join!(Browser::start(), fill_history(&h));
    let mut worker = h.agent("worker-1", &["#general"]).await;
    heartbeat(&mut worker).await;

    sign_in(&b, &h.http("/"), ADMIN).await;
    let version = b.wait_js("the version", "document.getElementById('version').textContent").await;
    assert_eq!(version, json!(format!("v{}", env!("CARGO_PKG_VERSION"))));
    let push = b.wait_js("the push state", "document.getElementById('push-state').textContent").await;
    assert!(push.as_str().unwrap().starts_with("push: "), "{push}");
    unit_checks(&b).await;

    for tab in ["todo", "agents", "resources", "workspaces", "chat"] {
        b.tab(tab).await;
    }
    chat::converse(&b, &mut worker).await;
    chat::attachments(&b, &mut worker).await;
    chat::unread_and_history(&b, &mut worker).await;
    chat::resume_after_reconnect(&b, &h, &mut worker).await;
    b.wait_js("the conversation scrolled to the newest", "(() => { const l = document.getElementById('messages'); return l.scrollHeight - l.scrollTop - l.clientHeight < 80; })()").await;
    b.screenshot("chat").await;

    panels::todo(&b, &h).await;
    // The Agents tab shows "online" for a heartbeat up to 60 s old; on a loaded machine the
    // scenario so far can take longer than that, so the worker beats again first.
    heartbeat(&mut worker).await;
    panels::agents(&b, &h).await;
    panels::resources(&b).await;
    panels::workspaces(&b, &h).await;
    push::push_button(&b, &h).await;
    let html = b.js("return document.documentElement.outerHTML + location.href").await;
    assert!(!html.as_str().unwrap().contains(ADMIN), "the token is in no URL or markup");
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());

    dev_mode(&b, &h, dev, &mut worker).await;

    // Back on the stable hub (the token is remembered), then stop it under the page.
    b.goto(&h.http("/#chat")).await;
    wait_live(&b).await;
    let TestHub { hub, dir } = h;
    hub.shutdown().await;
    let state = b
        .wait_js("ws: polling or ws: offline", "['ws: polling', 'ws: offline'].includes(document.getElementById('conn-status').textContent) && document.getElementById('conn-status').textContent")
        .await;
    eprintln!("after the hub stopped: {state}");
    b.screenshot("hub-stopped").await;
    b.close().await;
    drop(dir);
    eprintln!("browser scenario took {:?}; screenshots in {}", started.elapsed(), crate::driver::screenshot_dir().display());
}
