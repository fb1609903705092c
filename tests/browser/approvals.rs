//! Approvals in the browser: signed in with an approver token, the badge counts an agent's
//! permission request, the panel shows its preview as text, and clicking Allow sends the agent
//! `allow`; a request made while the page is open appears live and Deny sends `deny`.

use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::{ME, page_errors};
use crate::driver::Browser;

/// Markup in a tool's input must show as text, never run.
const PREVIEW: &str = r#"{"command":"echo <img src=x onerror=window.__pwned=1>"}"#;

async fn ask(worker: &mut Peer, frame: &str, request_id: &str) -> String {
    worker
        .send(json!({"type": "permission_request", "sender": "worker", "id": frame, "payload": {
            "request_id": request_id, "tool_name": "Bash", "description": "Print a greeting", "input_preview": PREVIEW}}))
        .await;
    let ack = worker.recv_until(|f| f["payload"]["ref"] == frame).await;
    ack["payload"]["permission_id"].as_str().unwrap_or_else(|| panic!("acked with an id: {ack}")).to_string()
}

async fn verdict(worker: &mut Peer) -> Value {
    worker.recv_until(|f| f["type"] == "permission_verdict").await["payload"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_allows_and_denies_from_the_dashboard() {
    let h = start_hub().await;
    let lab = create_workspace(&h.hub.http_url(), "lab").await;
    let url = h.http(&format!("/api/workspaces/{}/tokens", lab["id"].as_str().unwrap()));
    let t: Value = reqwest::Client::new().post(url).bearer_auth(ADMIN).json(&json!({"role": "approver", "person": ME})).send().await.unwrap().json().await.unwrap();
    let approver = t["token"].as_str().unwrap().to_string();
    let mut worker = h.raw(lab["token"].as_str().unwrap()).await;
    worker.register("worker", &["#general"]).await;
    let first = ask(&mut worker, "f-1", "abcde").await;

    let b = Browser::start().await;
    b.goto(&h.http("/")).await;
    b.wait_js("the token form", "!document.getElementById('login').hidden").await;
    b.type_into("#login-form input[name=token]", &approver).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_js("the badge counts one request", "document.querySelector('#approvals-badge .count')?.textContent === '1'").await;
    b.click("#approvals-badge").await;
    let shown = b
        .wait_js("the request in the panel", &format!(r#"(() => {{
            const row = document.querySelector('#approvals-pending .approval[data-id="{first}"]');
            const pre = row && row.querySelector('.preview');
            return pre && {{ text: pre.textContent, elements: pre.children.length, head: row.querySelector('.approval-head').textContent }};
        }})()"#))
        .await;
    assert_eq!(shown["text"], PREVIEW, "the preview is shown as text");
    assert_eq!(shown["elements"], 0, "no markup from the preview");
    assert!(shown["head"].as_str().unwrap().starts_with("worker asks to use Bash"), "{shown}");
    b.screenshot("approvals").await;
    b.click(&format!("#approvals-pending .approval[data-id=\"{first}\"] button.allow")).await;
    assert_eq!(verdict(&mut worker).await, json!({"id": first, "request_id": "abcde", "behavior": "allow"}));
    b.wait_js("the answer under recent", &format!("document.querySelector('#approvals-recent [data-id=\"{first}\"] .verdict')?.textContent === 'allowed by {ME}'")).await;
    b.wait_js("the badge back to zero", "document.querySelector('#approvals-badge .count')?.textContent === '0'").await;

    // A request made while the page is open appears without a reload.
    let second = ask(&mut worker, "f-2", "fghij").await;
    b.wait_js("the live request", &format!("!!document.querySelector('#approvals-pending .approval[data-id=\"{second}\"]')")).await;
    b.click(&format!("#approvals-pending .approval[data-id=\"{second}\"] button.deny")).await;
    assert_eq!(verdict(&mut worker).await, json!({"id": second, "request_id": "fghij", "behavior": "deny"}));
    // The agent's approvals history: its answered requests, with who answered.
    b.wait_js("the denial under recent", &format!("document.querySelector('#approvals-recent [data-id=\"{second}\"] .verdict')?.textContent === 'denied by {ME}'")).await;
    b.click(&format!("#approvals-recent [data-id=\"{second}\"] button.agent")).await;
    b.wait_js("worker's history", "document.getElementById('approvals-recent-head').textContent.startsWith('Recent answers for worker')").await;
    assert_eq!(b.js("return document.querySelectorAll('#approvals-recent .approval').length").await, json!(2));
    assert_eq!(b.js("return window.__pwned === undefined").await, json!(true));
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    b.close().await;
}

/// A plain workspace token's dashboard gets no approvals badge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_token_sees_no_approvals() {
    let h = start_hub().await;
    let token = h.workspace_token("lab").await;
    let b = Browser::start().await;
    b.goto(&h.http("/")).await;
    b.wait_js("the token form", "!document.getElementById('login').hidden").await;
    b.type_into("#login-form input[name=token]", &token).await;
    b.click("#login-form button[type=submit]").await;
    b.wait_js("signed in", "document.body.classList.contains('ready')").await;
    // The badge would be added right after the first read of /api/permissions.
    b.wait_js("the permissions read answered", "performance.getEntriesByType('resource').some(e => e.name.includes('/api/permissions'))").await;
    assert_eq!(b.js("return document.getElementById('approvals-badge') === null").await, json!(true));
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    b.close().await;
}
