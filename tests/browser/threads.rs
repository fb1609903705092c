//! The chat tools in the browser: threads (replies carry `metadata.reply_to`, the panel follows
//! a thread live), reactions toggled and updated live, `@all`, filters by agent, channel and
//! machine, the element inspector (Alt+I), the Settings panel, the links to the skills and
//! docs browsers, and the Resources card for every subset of the memory heartbeat keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::{ME, page_errors, sign_in};
use crate::driver::{Browser, ENTER};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(h: &TestHub, path: &str) -> Value {
    http().get(h.http(path)).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

/// An agent on `machine` in `channels` (admin token).
async fn agent_on(h: &TestHub, name: &str, machine: &str, channels: &[&str]) -> Peer {
    let mut p = h.raw(ADMIN).await;
    let id = format!("reg-{name}");
    p.send(json!({"type": "register", "sender": name, "id": id, "payload": {"channels": channels, "machine": machine}})).await;
    p.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == id.as_str()).await;
    p
}

async fn heartbeat(p: &mut Peer, name: &str, metrics: Value) {
    p.send(json!({"type": "heartbeat", "sender": name, "id": format!("hb-{name}"), "payload": metrics})).await;
    p.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == format!("hb-{name}")).await;
}

/// The next message frame from `sender`.
async fn from(p: &mut Peer, sender: &str) -> Value {
    p.recv_until(|f| f["type"] == "message" && f["sender"] == sender).await
}

/// Clicks with a script: the message tools show only on hover.
async fn js_click(b: &Browser, css: &str) {
    b.wait_js(&format!("{css} present"), &format!("!!document.querySelector('{css}')")).await;
    b.js(&format!("document.querySelector('{css}').click()")).await;
}

async fn threads(b: &Browser, h: &TestHub, worker: &mut Peer) {
    let ack = worker.say("worker-1", "#general", "please review PR 9").await;
    let root = ack["payload"]["msg_id"].as_str().unwrap().to_string();
    let in_list = format!("#messages .msg[data-id=\"{root}\"]");
    js_click(b, &format!("{in_list} .reply-btn")).await;
    b.wait_js("the thread panel with its root", &format!(
        "!document.getElementById('thread-panel').hidden && !!document.querySelector('#thread-messages .msg[data-id=\"{root}\"]')"
    ))
    .await;
    b.type_into("#thread-input", &format!("looking now{ENTER}")).await;
    let mine = from(worker, ME).await;
    assert_eq!(mine["payload"]["content"], "looking now");
    assert_eq!(mine["payload"]["metadata"]["reply_to"], root.as_str(), "the reply names its parent's msg_id");

    // The agent answers in the thread (as the MCP `reply` tool does): the panel follows.
    let id = "agent-reply";
    worker
        .send(json!({"type": "message", "sender": "worker-1", "id": id, "payload": {
            "channel": "#general", "content": "thanks, merged", "metadata": {"reply_to": root}}}))
        .await;
    worker.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == id).await;
    let texts = b
        .wait_js("both replies in the panel", "(() => { const t = [...document.querySelectorAll('#thread-messages .msg .body')].map(e => e.textContent); return t.length === 3 && t; })()")
        .await;
    assert_eq!(texts, json!(["please review PR 9", "looking now", "thanks, merged"]));
    b.wait_js("the reply count on the root", &format!("document.querySelector('{in_list} .replies')?.textContent === '2 replies'")).await;
    let marked = b.js("return [...document.querySelectorAll('#messages .msg')].filter(m => m.querySelector('.reply-ref')).map(m => m.querySelector('.body').textContent)").await;
    assert_eq!(marked, json!(["looking now", "thanks, merged"]), "replies stay in the channel, marked");
    let thread = get(h, &format!("/api/history/general?thread={root}")).await;
    assert_eq!(thread.as_array().unwrap().len(), 3);
    b.screenshot("thread").await;
    b.click("#thread-close").await;
    b.wait_js("the panel closed", "document.getElementById('thread-panel').hidden").await;
}

async fn reactions(b: &Browser, h: &TestHub, worker: &mut Peer) {
    let ack = worker.say("worker-1", "#general", "react to me").await;
    let id = ack["payload"]["msg_id"].as_str().unwrap().to_string();
    let msg = format!("#messages .msg[data-id=\"{id}\"]");
    js_click(b, &format!("{msg} .react-btn")).await;
    b.click(&format!("{msg} .reaction-picker .pick[data-emoji=\"👍\"]")).await;
    b.wait_js("my 👍", &format!("document.querySelector('{msg} .reaction.mine[data-emoji=\"👍\"] .n')?.textContent === '1'")).await;
    let stored = get(h, &format!("/api/reactions?message_ids={id}")).await;
    assert_eq!(stored[&id], json!({"👍": [ME]}));

    // An agent's reaction arrives live (reaction_update).
    worker.send(json!({"type": "react", "sender": "worker-1", "id": "r1", "payload": {"message_id": id, "emoji": "✅"}})).await;
    worker.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "r1").await;
    b.wait_js("the agent's ✅", &format!("document.querySelector('{msg} .reaction[data-emoji=\"✅\"]')?.title === 'worker-1'")).await;

    // Clicking my chip again takes it back.
    b.click(&format!("{msg} .reaction[data-emoji=\"👍\"]")).await;
    b.wait_js("👍 gone", &format!("!document.querySelector('{msg} .reaction[data-emoji=\"👍\"]')")).await;
    let stored = get(h, &format!("/api/reactions?message_ids={id}")).await;
    assert_eq!(stored[&id], json!({"✅": ["worker-1"]}));

    // Every message has them, the human ones too.
    let without = b.js("return [...document.querySelectorAll('#messages .msg')].filter(m => !m.querySelector('.reactions') || !m.querySelector('.react-btn')).length").await;
    assert_eq!(without, 0);
}

async fn at_all(b: &Browser, h: &TestHub, worker: &mut Peer, gpu: &mut Peer) {
    b.type_into("#msg-input", "@al").await;
    b.wait_js("@all offered", "!!document.querySelector('#mention-menu:not([hidden]) li[data-name=\"all\"]')").await;
    b.type_into("#msg-input", &format!("l status please{ENTER}")).await;
    for p in [&mut *worker, &mut *gpu] {
        let got = p.recv_until(|f| f["type"] == "message" && f["payload"]["content"] == "@all status please").await;
        assert_eq!(got["sender"], ME);
    }
    b.wait_js("@all rendered as a mention", "[...document.querySelectorAll('#messages .msg .mention')].some(e => e.textContent === '@all')").await;
    // The member that is offline finds it in its inbox.
    let mut sleeper = h.raw(ADMIN).await;
    sleeper.register("sleeper", &[]).await;
    let waiting = sleeper.recv_until(|f| f["type"] == "message").await;
    assert_eq!((waiting["payload"]["content"].as_str(), &waiting["payload"]["inbox"]), (Some("@all status please"), &json!(true)));
}

async fn filters(b: &Browser, gpu: &mut Peer) {
    gpu.say("gpu-bot", "#general", "from the gpu box").await;
    b.wait_js("the gpu message", "[...document.querySelectorAll('#messages .msg .body')].some(e => e.textContent === 'from the gpu box')").await;
    let visible = "[...document.querySelectorAll('#messages .msg')].filter(m => !m.hidden).map(m => m.dataset.sender)";
    b.select("#filter-machine", "gpu-box").await;
    let senders = b.wait_js("only gpu-box", &format!("(() => {{ const s = {visible}; return s.length && s.every(x => x === 'gpu-bot') && s; }})()")).await;
    assert_eq!(senders, json!(["gpu-bot"]));
    assert!(b.js("return document.getElementById('filter-status').textContent").await.as_str().unwrap().starts_with("1 of "));
    b.select("#filter-machine", "").await;
    b.select("#filter-agent", "worker-1").await;
    let senders = b.wait_js("only worker-1", &format!("(() => {{ const s = {visible}; return s.length > 1 && s.every(x => x === 'worker-1') && s; }})()")).await;
    assert!(senders.as_array().unwrap().len() >= 3, "{senders}");
    b.type_into("#filter-channel", "op").await;
    let channels = b.wait_js("only #ops listed", "(() => { const c = [...document.querySelectorAll('#channel-list li')].filter(li => !li.hidden).map(li => li.querySelector('.name').textContent); return c.length === 1 && c; })()").await;
    assert_eq!(channels, json!(["#ops"]));
    b.screenshot("filters").await;
    b.click("#filter-clear").await;
    b.wait_js("everything back", "[...document.querySelectorAll('#channel-list li')].every(li => !li.hidden) && [...document.querySelectorAll('#messages .msg')].every(m => !m.hidden) && document.getElementById('filter-clear').hidden").await;
}

async fn inspector(b: &Browser) {
    let alt_i = "\u{e00a}i\u{e000}";
    b.type_into("#msg-input", alt_i).await;
    b.wait_js("the inspector open", "!document.getElementById('inspector').hidden").await;
    // A click picks the element instead of pressing it.
    b.click("button[data-tab=\"agents\"]").await;
    let sel = b.wait_js("a selector", "document.getElementById('inspector-selector')?.textContent").await;
    assert_eq!(sel, json!("button[data-tab=\"agents\"]"));
    assert!(b.js("return document.getElementById('tab-agents').hidden").await.as_bool().unwrap(), "the tab did not switch");
    let facts = b
        .js(r#"return {
            tag: document.querySelector('#inspector-props tr[data-key="tag"] td').textContent,
            display: document.querySelector('#inspector-styles tr[data-key="display"] td').textContent,
            path: [...document.querySelectorAll('#inspector-path li')].map(li => li.textContent),
        }"#)
        .await;
    assert_eq!(facts["tag"], "button");
    assert!(!facts["display"].as_str().unwrap().is_empty(), "{facts}");
    let path: Vec<&str> = facts["path"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(path[0] == "html" && path[1].starts_with("body.ready") && path[2] == "header.topbar", "{path:?}");

    // A message body: the selector names exactly that element.
    b.click("#messages .msg:last-of-type .body").await;
    let found = b
        .wait_js("a unique selector", r#"(() => {
            const sel = document.getElementById('inspector-selector').textContent;
            const el = window.orochiInspector.current().element;
            return el && el.classList.contains('body') && document.querySelectorAll(sel).length === 1 && document.querySelector(sel) === el && sel;
        })()"#)
        .await;
    let sel = found.as_str().unwrap().to_string();
    assert!(sel.starts_with("article[data-id=\"") && sel.ends_with("\"] > div.body"), "readable: {sel}");
    b.js("document.getElementById('msg-input').value = ''").await;
    b.click("#inspector-insert").await;
    let typed = b.wait_js("the selector in the message box", "document.getElementById('msg-input').value").await;
    assert_eq!(typed, json!(format!("`{sel}` ")));
    b.click("#inspector-copy").await;
    b.wait_js("the copy toast", "[...document.querySelectorAll('.toast')].some(t => t.textContent.startsWith('Copied'))").await;
    // Every element of the page gets a selector that finds it alone.
    let bad = b.js("return [...document.querySelectorAll('body *')].filter(e => { const s = window.orochiInspector.selectorFor(e); return document.querySelector(s) !== e; }).length").await;
    assert_eq!(bad, 0);
    b.screenshot("inspector").await;
    b.type_into("#msg-input", alt_i).await;
    b.wait_js("the inspector closed", "document.getElementById('inspector').hidden").await;
    b.js("document.getElementById('msg-input').value = ''").await;
    b.tab("agents").await;
    b.tab("chat").await;
}

async fn settings(b: &Browser, h: &TestHub, worker: &mut Peer) {
    // A name another workspace holds.
    let lab = h.workspace_token("lab").await;
    let mut lab_bot = h.raw(&lab).await;
    lab_bot.register("lab-bot", &[]).await;

    b.click("#settings-btn").await;
    b.wait_js("the settings", "document.getElementById('settings-dialog').open").await;
    let version = b.wait_js("the hub version", "document.getElementById('settings-version').dataset.version").await;
    assert_eq!(version, json!(env!("CARGO_PKG_VERSION")));
    let observed = b.js("return document.getElementById('settings-observed').textContent").await;
    assert_eq!(observed, json!(h.http("").trim_end_matches('/')));
    b.wait_js("the token kind", "document.getElementById('settings-token').textContent.includes('admin token')").await;
    b.wait_js("the notification state", "document.getElementById('settings-push-state').textContent !== '…'").await;
    for (name, want) in [("all", "reserved"), ("two words", "invalid"), ("lab-bot", "another workspace")] {
        let input = b.find("#settings-name").await;
        input.clear().await.unwrap();
        input.send_keys(name).await.unwrap();
        b.click("#settings-name-save").await;
        b.wait_js(&format!("{name} refused"), &format!("document.getElementById('settings-name-msg').classList.contains('error') && document.getElementById('settings-name-msg').textContent.includes('{want}')")).await;
        assert_eq!(b.js("return document.getElementById('whoami').textContent").await, json!(ME));
    }
    let input = b.find("#settings-name").await;
    input.clear().await.unwrap();
    input.send_keys("yusuke").await.unwrap();
    b.click("#settings-name-save").await;
    b.wait_js("the name saved", "document.getElementById('whoami').textContent === 'yusuke'").await;
    b.screenshot("settings").await;
    b.click("#settings-close").await;
    b.type_into("#msg-input", &format!("under my new name{ENTER}")).await;
    assert_eq!(from(worker, "yusuke").await["payload"]["content"], "under my new name");

    // The links to the skills and docs browsers, both served.
    let links = b.js("return [...document.querySelectorAll('.links a')].map(a => a.getAttribute('href'))").await;
    assert_eq!(links, json!(["/skills", "/docs"]));
    for path in ["/skills", "/docs"] {
        assert_eq!(http().get(h.http(path)).send().await.unwrap().status(), StatusCode::OK, "{path}");
    }

    // Sign out from Settings: the token is gone and the login form is back.
    b.click("#settings-btn").await;
    b.wait_js("the settings", "document.getElementById('settings-dialog').open").await;
    b.click("#settings-signout").await;
    b.wait_js("the login form", "!document.getElementById('login').hidden && !localStorage.getItem('orochi_token')").await;

    // Signing in again: the name is checked by the hub there too.
    b.type_into("#login-form input[name=token]", ADMIN).await;
    let name = b.find("#login-form input[name=name]").await;
    name.clear().await.unwrap();
    name.send_keys("all").await.unwrap();
    b.click("#login-form button[type=submit]").await;
    b.wait_js("the name refused", "document.getElementById('login-error').textContent.includes('reserved') && !localStorage.getItem('orochi_token')").await;
    name.clear().await.unwrap();
    name.send_keys(ME).await.unwrap();
    b.click("#login-form button[type=submit]").await;
    crate::dashboard::wait_live(b).await;
    assert_eq!(b.js("return document.getElementById('whoami').textContent").await, json!(ME));
}

/// Each machine reports a different subset of mem_used_percent, mem_total_mb, mem_free_mb.
async fn partial_heartbeats(b: &Browser, h: &TestHub) -> Vec<Peer> {
    let cases = [
        ("m-all", json!({"mem_used_percent": 50.0, "mem_total_mb": 32768, "mem_free_mb": 16384})),
        ("m-pct-total", json!({"mem_used_percent": 25.0, "mem_total_mb": 65536})),
        ("m-total-free", json!({"mem_total_mb": 8192, "mem_free_mb": 2048})),
        ("m-pct", json!({"mem_used_percent": 10.0})),
        ("m-pct-free", json!({"mem_used_percent": 40.0, "mem_free_mb": 1024})),
        ("m-total", json!({"mem_total_mb": 4096, "disk_used_percent": 5.0})),
        ("m-free", json!({"mem_free_mb": 1024, "disk_used_percent": 5.0})),
    ];
    let mut peers = Vec::new();
    for (machine, metrics) in cases {
        let name = format!("{machine}-agent");
        let mut p = agent_on(h, &name, machine, &["#metrics"]).await;
        heartbeat(&mut p, &name, metrics).await;
        peers.push(p);
    }
    b.tab("resources").await;
    let mem = b
        .wait_js("every card", r#"(() => {
            const out = {};
            for (const m of ['m-all', 'm-pct-total', 'm-total-free', 'm-pct', 'm-pct-free', 'm-total', 'm-free']) {
                const c = document.querySelector(`.resource-card[data-machine="${m}"]`);
                if (!c) return null;
                const e = c.querySelector('.metric[data-metric="Memory"]');
                out[m] = e ? [e.querySelector('.value').textContent, e.querySelector('.sub')?.textContent ?? ''] : null;
            }
            return out;
        })()"#)
        .await;
    assert_eq!(mem, json!({
        "m-all": ["50%", "16.0 / 32.0 GB"],
        "m-pct-total": ["25%", "16.0 / 64.0 GB"],
        "m-total-free": ["75%", "6.0 / 8.0 GB"],
        "m-pct": ["10%", ""],
        "m-pct-free": ["40%", "1.0 GB free"],
        "m-total": null,
        "m-free": null,
    }));
    b.screenshot("resources-partial").await;
    b.tab("chat").await;
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_reactions_filters_inspector_settings() {
    let h = start_hub().await;
    let b = Browser::start().await;
    let mut worker = h.agent("worker-1", &["#general", "#ops"]).await;
    let mut gpu = agent_on(&h, "gpu-bot", "gpu-box", &["#general"]).await;
    drop(agent_on(&h, "sleeper", "laptop", &["#general"]).await);
    worker.say("worker-1", "#ops", "ops is quiet").await;

    sign_in(&b, &h.http("/"), ADMIN).await;
    b.wait_js("#general open", "document.getElementById('channel-title').textContent === '#general'").await;
    threads(&b, &h, &mut worker).await;
    reactions(&b, &h, &mut worker).await;
    at_all(&b, &h, &mut worker, &mut gpu).await;
    filters(&b, &mut gpu).await;
    inspector(&b).await;
    let _metrics_agents = partial_heartbeats(&b, &h).await;
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    settings(&b, &h, &mut worker).await;
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    b.close().await;
}
