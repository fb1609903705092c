//! Chat in the browser: send with @mention autocomplete and see it reach an agent; an
//! agent's message rendered safely with highlighting; image upload and sketch shown inline;
//! unread counts; paging older history; resuming by seq after the socket drops.

use std::time::Duration;

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::{HISTORY, ME, wait_live};
use crate::driver::{Browser, ENTER, TAB};

fn from_me(f: &Value) -> bool {
    f["type"] == "message" && f["sender"] == ME
}

pub async fn converse(b: &Browser, worker: &mut Peer) {
    b.type_into("#msg-input", "hello from the browser @wor").await;
    b.wait_js("the mention menu", "!!document.querySelector('#mention-menu:not([hidden]) li[data-name=\"worker-1\"]')").await;
    b.type_into("#msg-input", TAB).await;
    b.type_into("#msg-input", &format!("**now**{ENTER}")).await;
    let got = worker.recv_until(from_me).await;
    assert_eq!(got["payload"]["channel"], "#general");
    assert_eq!(got["payload"]["content"], "hello from the browser @worker-1 **now**");
    b.wait_js("my message, rendered", "[...document.querySelectorAll('.msg[data-sender=\"ywatanabe\"] .body strong')].some(e => e.textContent === 'now')").await;
    // The box empties when the hub answers the POST, which may come after the socket's frame.
    b.wait_js("the message box emptied", "document.getElementById('msg-input').value === ''").await;

    let hostile = "hi from **worker-1** <script>window.pwned=1</script><img src=x onerror=\"window.pwned=2\"> \
        [click](javascript:window.pwned=3) see https://example.org/a?b=1&c=2 and `code <b>` @ywatanabe";
    let ack = worker.say("worker-1", "#general", hostile).await;
    assert_eq!(ack["type"], "ack");
    let check = b
        .wait_js("the agent's message", r#"(() => {
            const m = [...document.querySelectorAll('.msg[data-sender="worker-1"]')].pop();
            if (!m) return null;
            const body = m.querySelector('.body');
            return {
              strong: body.querySelector('strong')?.textContent,
              tags: [...body.querySelectorAll('*')].map(e => e.tagName.toLowerCase()).sort().join(','),
              hrefs: [...body.querySelectorAll('a')].map(a => a.getAttribute('href')),
              code: body.querySelector('code')?.textContent,
              me: body.querySelector('.mention.me')?.textContent,
              highlighted: m.classList.contains('mentions-me'),
              kind: m.querySelector('.kind').textContent,
              pwned: window.pwned ?? null,
            };
        })()"#)
        .await;
    assert_eq!(check["strong"], "worker-1");
    assert_eq!(check["tags"], "a,code,span,strong", "only the subset's tags: {check}");
    assert_eq!(check["hrefs"], json!(["https://example.org/a?b=1&c=2"]));
    assert_eq!(check["code"], "code <b>");
    assert_eq!(check["me"], "@ywatanabe");
    assert_eq!(check["highlighted"], true);
    assert_eq!(check["kind"], "agent");
    assert_eq!(check["pwned"], Value::Null, "no script ran");
}

pub async fn attachments(b: &Browser, worker: &mut Peer) {
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard/static/orochi-192.png");
    b.find("#file-input").await.send_keys(png.to_str().unwrap()).await.expect("choose a file");
    b.wait_js("the upload", "!!document.querySelector('#pending-files .chip.ready')").await;
    b.click("#send-btn").await;
    let got = worker.recv_until(from_me).await;
    let att = &got["payload"]["attachments"][0];
    assert_eq!(att["mime_type"], "image/png");
    assert_eq!(att["filename"], "orochi-192.png");
    assert!(att["url"].as_str().unwrap().starts_with("/media/"), "{att}");
    b.wait_js("the image inline", "[...document.querySelectorAll('.msg .attachment.image img')].some(i => i.src.startsWith('blob:') && i.complete && i.naturalWidth === 192)").await;

    // The sketch pad: draw a red stroke, send it, see it inline.
    b.click("#sketch-btn").await;
    b.wait_js("the sketch dialog", "document.getElementById('sketch-dialog').open").await;
    b.click("#sketch-tools button[data-colour=\"#e53935\"]").await;
    let canvas = b.find("#sketch-canvas").await;
    let stroke = MouseActions::new("pen".into())
        .then(PointerAction::MoveToElement { element: canvas, duration: None, x: -150.0, y: -40.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(60)), x: 150.0, y: 80.0 })
        .then(PointerAction::MoveBy { duration: Some(Duration::from_millis(60)), x: 150.0, y: -80.0 })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    b.client.perform_actions(stroke).await.expect("draw");
    let red = b
        .js("const c = document.getElementById('sketch-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 100 && d[i + 2] < 100) n++; return n;")
        .await;
    assert!(red.as_u64().unwrap() > 200, "the stroke is on the canvas: {red} red pixels");
    b.click("#sketch-send").await;
    let got = worker.recv_until(from_me).await;
    assert_eq!(got["payload"]["content"], "sketch");
    assert_eq!(got["payload"]["attachments"][0]["filename"], "sketch.png");
    b.wait_js("the sketch inline", "!document.getElementById('sketch-dialog').open && [...document.querySelectorAll('.msg .attachment.image img')].some(i => i.alt === 'sketch.png' && i.naturalWidth === 1200)").await;
}

/// The seqs shown in the message list, in screen order.
async fn shown_seqs(b: &Browser) -> Vec<u64> {
    let v = b.js("return [...document.querySelectorAll('#messages .msg')].map(m => Number(m.dataset.seq))").await;
    v.as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect()
}

pub async fn unread_and_history(b: &Browser, worker: &mut Peer) {
    worker.say("worker-1", "#ops", "deploy done").await;
    b.wait_js("an unread count on #ops", "document.querySelector('.channel[data-channel=\"#ops\"] .count')?.textContent === '1'").await;
    b.wait_js("the unread total", "!document.getElementById('unread-total').hidden && document.getElementById('unread-total').textContent === '1'").await;
    b.click(".channel[data-channel=\"#ops\"]").await;
    b.wait_js("#ops history", "[...document.querySelectorAll('#messages .msg .body')].some(e => e.textContent === 'deploy done')").await;
    b.wait_js("the count cleared", "!document.querySelector('.channel[data-channel=\"#ops\"] .count') && document.getElementById('unread-total').hidden").await;

    b.click(".channel[data-channel=\"#history\"]").await;
    b.wait_js("the newest page", &format!("Number([...document.querySelectorAll('#messages .msg')].pop()?.dataset.seq) === {HISTORY}")).await;
    let first = shown_seqs(b).await;
    assert!(first.len() >= 50 && first.len() < HISTORY as usize, "one page first: {}", first.len());
    for _ in 0..6 {
        let seqs = shown_seqs(b).await;
        if seqs.first() == Some(&1) {
            break;
        }
        // Scroll to the top (alternating 1 and 0 so every poll is a fresh scroll event).
        let before = seqs[0];
        let expr = format!(
            "(() => {{ const l = document.getElementById('messages'); l.scrollTop = l.scrollTop === 0 ? 1 : 0; \
             return Number(document.querySelector('#messages .msg')?.dataset.seq) < {before}; }})()"
        );
        b.wait_js("an older page", &expr).await;
    }
    assert_eq!(shown_seqs(b).await, (1..=HISTORY).collect::<Vec<_>>(), "every message once, oldest first");
    b.wait_js("the start of history", "document.getElementById('history-status').textContent.includes('beginning')").await;
    let text = b.js("return document.querySelector('#messages .msg .body').textContent").await;
    assert_eq!(text, "history message 1");
}

/// The hub drops the page's socket; messages sent meanwhile arrive once, in order. The REST
/// poll that starts when the socket drops is held until the socket is back (as on a slow
/// machine, where it outlasts the 1 s reconnect): the indicator must leave live anyway, and
/// the messages come from the resume that follows the reconnect.
pub async fn resume_after_reconnect(b: &Browser, h: &TestHub, worker: &mut Peer) {
    b.click(".channel[data-channel=\"#general\"]").await;
    b.wait_js("#general", "document.getElementById('channel-title').textContent === '#general'").await;
    b.js("window.__states = []; const el = document.getElementById('conn-status'); \
          new MutationObserver(() => window.__states.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true}); \
          const real = window.fetch; window.__unholdPoll = () => { window.fetch = real; release(); }; \
          let release; const held = new Promise(r => { release = r; }); \
          window.fetch = (url, opts) => String(url).includes('/api/messages?limit=') ? held.then(() => real(url, opts)) : real(url, opts);")
        .await;
    {
        let inner = h.hub.state.registry.read();
        assert_eq!(inner.observers.len(), 1, "the page is the only observer");
        for o in inner.observers.values() {
            o.close(4008, "test: drop the observer");
        }
    }
    for i in 1..=3 {
        worker.say("worker-1", "#general", &format!("while you were away {i}")).await;
    }
    b.wait_js("the missed messages", "[1, 2, 3].every(i => [...document.querySelectorAll('#messages .msg .body')].some(e => e.textContent === `while you were away ${i}`))").await;
    wait_live(b).await;
    let states = b.js("window.__unholdPoll(); return window.__states").await;
    assert!(states.as_array().unwrap().iter().any(|s| s != "ws: live"), "the indicator left live: {states}");
    let seqs = shown_seqs(b).await;
    let mut sorted = seqs.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seqs, sorted, "no duplicate, in seq order");
    let rows = all_rows(&h.hub.http_url(), "#general").await;
    assert_eq!(seqs.last().copied(), rows.last().and_then(|r| r["seq"].as_u64()), "up to the newest");
}
