//! Dev observes stable across two origins, as deployed: two hubs on loopback under two host
//! names (Chromium's `--host-resolver-rules` maps them to 127.0.0.1), wired by the deploy
//! spec's own rules (`Spec::container_env`), not by hand. dev's page shows a message sent to
//! stable live and posts one that stable's agent receives; a page from a third origin is
//! refused by stable's observer socket.

use std::path::Path;

use scitex_orochi::deploy::spec::{CORS_ORIGINS, Spec, WS_UPSTREAM};
use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::{ME, page_errors, sign_in};
use crate::driver::{Browser, ENTER};

const STABLE: &str = "stable.orochi.test";
const DEV: &str = "dev.orochi.test";
const FOREIGN: &str = "evil.orochi.test";

/// The instance specs with loopback ports and the two test host names as public URLs.
fn spec(stable_port: u16, dev_port: u16) -> Spec {
    let text = format!(
        r#"[instances.stable]
dashboard_port = {stable_port}
ws_port = 1
data_dir = "s"
public_url = "http://{STABLE}:{stable_port}"
public_ws_url = "ws://ws.{STABLE}:1/"
env_file = "stable.env"
[instances.dev]
dashboard_port = {dev_port}
ws_port = 2
data_dir = "s"
public_url = "http://{DEV}:{dev_port}"
public_ws_url = "ws://ws.{DEV}:2/"
env_file = "dev.env"
upstream = "stable"
"#
    );
    Spec::parse(Path::new("/tmp/instances.toml"), &text).unwrap()
}

fn env_value(spec: &Spec, instance: &str, name: &str) -> String {
    let env = spec.container_env(spec.instance(instance).unwrap(), &[]);
    env.into_iter().find(|(k, _)| k == name).map(|(_, v)| v).unwrap_or_else(|| panic!("{instance} has no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_dashboard_observes_stable_from_another_origin() {
    let (stable_port, dev_port) = (free_port(), free_port());
    let spec = spec(stable_port, dev_port);
    let cors = env_value(&spec, "stable", CORS_ORIGINS);
    let upstream = env_value(&spec, "dev", WS_UPSTREAM);
    assert_eq!(upstream, spec.instance("stable").unwrap().public_url, "dev observes stable's dashboard URL");
    let stable = start_hub_with(|c| {
        c.dashboard_port = stable_port;
        c.cors_origins = cors.split(',').map(String::from).collect();
    })
    .await;
    let dev = start_hub_with(|c| {
        c.dashboard_port = dev_port;
        c.admin_token = "dev-only-token".into();
        c.dashboard_ws_upstream = upstream.clone();
    })
    .await;
    let rules = format!("--host-resolver-rules=MAP {STABLE} 127.0.0.1, MAP {DEV} 127.0.0.1, MAP {FOREIGN} 127.0.0.1");
    let b = Browser::start_with(&[rules]).await;
    let mut worker = stable.agent("worker-1", &["#general"]).await;

    // Signed in on dev's origin with stable's token: the page is live on stable's /ws.
    sign_in(&b, &format!("http://{DEV}:{dev_port}/"), ADMIN).await;
    let badge = b.wait_js("the upstream badge", "!document.getElementById('upstream').hidden && document.getElementById('upstream').textContent").await;
    assert_eq!(badge, json!(format!("dev → {STABLE}:{stable_port}")));
    assert_eq!(b.js("return location.origin").await, json!(format!("http://{DEV}:{dev_port}")));

    // A message sent to stable shows on dev's page live ...
    worker.say("worker-1", "#general", "live from stable to the dev page").await;
    b.wait_js("stable's message on the dev page", "[...document.querySelectorAll('.msg .body')].some(e => e.textContent.includes('live from stable to the dev page'))").await;
    // ... and one posted on dev's page reaches stable's agent.
    b.type_into("#msg-input", &format!("from the dev origin to stable{ENTER}")).await;
    let got = worker.recv_until(|f| f["type"] == "message" && f["sender"] == ME).await;
    assert_eq!(got["payload"]["content"], "from the dev origin to stable");
    let r = reqwest::Client::new().get(dev.http("/api/history/general")).bearer_auth("dev-only-token").send().await.unwrap();
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 0, "the dev hub stored nothing");
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    b.screenshot("two-origins-dev").await;

    // A page from an origin stable does not list cannot open its observer socket, even with
    // the admin token (the same page from dev's origin can). A refused handshake always ends
    // in `error`, so no timer is needed (WebDriver's script timeout bounds a hang).
    let probe = format!(
        "return new Promise(done => {{
            const ws = new WebSocket('ws://{STABLE}:{stable_port}/ws?token={ADMIN}');
            ws.onopen = () => {{ ws.close(); done('open'); }};
            ws.onerror = () => done('refused');
        }})"
    );
    assert_eq!(b.js(&probe).await, json!("open"));
    b.goto(&format!("http://{FOREIGN}:{dev_port}/")).await;
    assert_eq!(b.js("return location.origin").await, json!(format!("http://{FOREIGN}:{dev_port}")));
    assert_eq!(b.js(&probe).await, json!("refused"));

    b.close().await;
    dev.hub.shutdown().await;
    stable.hub.shutdown().await;
}
