//! The TODO, Agents, Resources and Workspaces tabs in the browser, checked against the
//! REST API underneath.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::ME;
use crate::driver::Browser;

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(h: &TestHub, path: &str, token: &str) -> (StatusCode, Value) {
    let r = http().get(h.http(path)).bearer_auth(token).send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Holds back the answer to the page's next `GET /api/todos` (the request goes out at once,
/// so the answer is the list as it was then). `window.__staleTodos.release()` hands it over
/// and resolves once the page has read it and run what follows (one task later).
const STALE_TODOS: &str = r#"
    const real = window.fetch;
    let open;
    const gate = new Promise((r) => { open = r; });
    let read;
    const consumed = new Promise((r) => { read = r; });
    window.__staleTodos = { arrived: false, release: async () => { open(); await consumed; await new Promise((r) => setTimeout(r)); } };
    window.fetch = (url, opts) => {
        const answer = real(url, opts);
        if (!String(url).endsWith('/api/todos') || (opts?.method ?? 'GET') !== 'GET') return answer;
        window.fetch = real;
        return answer.then((r) => {
            window.__staleTodos.arrived = true;
            const text = r.text.bind(r);
            r.text = () => text().finally(read);
            return gate.then(() => r);
        });
    };
"#;

pub async fn todo(b: &Browser, h: &TestHub) {
    b.tab("todo").await;
    b.type_into("#todo-form input[name=title]", "Ship the dashboard").await;
    b.select("#todo-form select[name=priority]", "high").await;
    b.type_into("#todo-form textarea[name=body]", "with **browser** tests").await;
    b.click("#todo-form button[type=submit]").await;
    b.wait_js("the new task under High", r#"(() => {
        const row = document.querySelector('.todo-group[data-priority="high"] .todo-row');
        return row && row.querySelector('.title').textContent === 'Ship the dashboard'
            && row.querySelector('.todo-details strong')?.textContent === 'browser';
    })()"#)
        .await;
    // The claim makes the page read the list (after the POST and on the todo_update frame).
    // The first of these answers is held back and handed over only at the end, when a newer
    // read has shown a task filed since: as on a loaded machine, where answers overtake.
    b.js(STALE_TODOS).await;
    b.js("[...document.querySelectorAll('.todo-actions button')].find(x => x.textContent.startsWith('Claim')).click()").await;
    b.wait_js("the task claimed", "document.querySelector('.todo-group[data-priority=\"high\"] .pill')?.textContent === 'claimed'").await;
    b.wait_js("the held answer", "window.__staleTodos.arrived").await;
    let (_, list) = get(h, "/api/todos", ADMIN).await;
    assert_eq!(list[0]["title"], "Ship the dashboard");
    assert_eq!((list[0]["status"].as_str(), list[0]["assignee"].as_str()), (Some("claimed"), Some(ME)));
    assert_eq!(list[0]["created_by"], ME);

    // A task filed by someone else appears without a reload (todo_update frame).
    let r = http().post(h.http("/api/todos")).bearer_auth(ADMIN).json(&json!({"title": "Agent-filed task", "priority": "low"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let agent_task = "[...document.querySelectorAll('.todo-group[data-priority=\"low\"] .title')].some(e => e.textContent === 'Agent-filed task')";
    b.wait_js("the agent's task under Low", agent_task).await;
    b.js("return window.__staleTodos.release()").await;
    assert_eq!(b.js(&format!("return {agent_task}")).await, json!(true), "the older answer, handed over late, did not undo the newer one");
    b.screenshot("todo").await;
}

pub async fn agents(b: &Browser, h: &TestHub) {
    b.tab("agents").await;
    let row = b
        .wait_js("worker-1 online", r#"(() => {
            const tr = document.querySelector('tr[data-agent="worker-1"]');
            return tr && tr.classList.contains('online') && [...tr.children].map(td => td.textContent);
        })()"#)
        .await;
    let cells: Vec<&str> = row.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(cells[0].starts_with("online"), "{cells:?}");
    assert!(cells[1].starts_with("worker-1"), "{cells:?}");
    assert_eq!(cells[2], "test-host");
    assert_eq!(cells[5], "#general");
    assert_eq!(cells[6], "reviewing PR 7");
    assert!(cells[8].ends_with("ago"), "{cells:?}");

    // An agent that connects while the tab is open appears at once; when it leaves it stays
    // listed as offline.
    let mut second = h.raw(ADMIN).await;
    second
        .send(json!({"type": "register", "sender": "reviewer-1", "id": "reg-r", "payload": {
            "channels": ["#dev"], "machine": "gpu-box", "model": "claude-opus", "role": "reviewer"}}))
        .await;
    second.recv_until(|f| f["payload"]["ref"] == "reg-r").await;
    let cells = b
        .wait_js("reviewer-1 appears", "(() => { const tr = document.querySelector('tr[data-agent=\"reviewer-1\"].online'); return tr && [...tr.children].map(td => td.textContent); })()")
        .await;
    assert_eq!(cells.as_array().unwrap()[2..6], json!(["gpu-box", "claude-opus", "reviewer", "#dev"]).as_array().unwrap()[..]);
    b.screenshot("agents").await;
    drop(second);
    b.wait_js("reviewer-1 offline", "!!document.querySelector('tr[data-agent=\"reviewer-1\"].offline')").await;
}

pub async fn resources(b: &Browser) {
    b.tab("resources").await;
    let card = b
        .wait_js("the test-host card", r#"(() => {
            const c = document.querySelector('.resource-card[data-machine="test-host"]');
            if (!c) return null;
            const m = (l) => { const e = c.querySelector(`.metric[data-metric="${l}"]`); return e && [e.className, e.querySelector('.value').textContent]; };
            return { card: c.className, text: c.textContent, cpu: m('CPU load'), mem: m('Memory'), disk: m('Disk'), gpu: m('Cluster GPUs') };
        })()"#)
        .await;
    assert_eq!(card["cpu"], json!(["metric warning", "80%"]), "6.4 / 8 CPUs: {card}");
    assert_eq!(card["mem"], json!(["metric critical", "85%"]));
    assert_eq!(card["disk"], json!(["metric ok", "42%"]));
    assert_eq!(card["gpu"], json!(["metric ok", "75%"]));
    assert_eq!(card["card"], "resource-card critical");
    let text = card["text"].as_str().unwrap();
    for want in ["worker-1", "Test CPU @ 3 GHz", "3 / 4 allocated", "Slurm: 2 running, 5 pending, 7 total"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    b.screenshot("resources").await;
}

/// The secret shown once; waits until it differs from `previous`.
async fn secret(b: &Browser, previous: &str) -> String {
    let v = b
        .wait_js("a secret shown once", &format!("(() => {{ const s = document.querySelector('#ws-secret .secret-value')?.textContent; return s && s !== '{previous}' && s; }})()"))
        .await;
    v.as_str().unwrap().to_string()
}

pub async fn workspaces(b: &Browser, h: &TestHub) {
    b.tab("workspaces").await;
    b.wait_js("the default workspace", "!!document.querySelector('.ws-card[data-workspace=\"default\"]')").await;
    b.type_into("#ws-create input[name=name]", "lab").await;
    b.type_into("#ws-create input[name=channels]", "#lab, #lab-ops").await;
    b.click("#ws-create button[type=submit]").await;
    let first = secret(b, "").await;
    assert!(first.starts_with("wks_"), "{first}");
    assert_eq!(get(h, "/api/channels", &first).await.0, StatusCode::OK, "the shown token works");
    let chips = b
        .wait_js("the lab card", "[...document.querySelectorAll('.ws-card[data-workspace=\"lab\"] .chip')].map(c => c.textContent).join(' ')")
        .await;
    assert!(chips.as_str().unwrap().contains("#lab #lab-ops"), "{chips}");

    let card = ".ws-card[data-workspace=\"lab\"]";
    b.type_into(&format!("{card} form.new-token input[name=label]"), "laptop").await;
    b.click(&format!("{card} form.new-token button[type=submit]")).await;
    let second = secret(b, &first).await;
    assert!(second.starts_with("wks_") && second != first);
    assert_eq!(get(h, "/api/agents", &second).await.0, StatusCode::OK);
    b.wait_js("the token listed by label", &format!("[...document.querySelectorAll('{card} .token-list li')].some(li => li.textContent.includes('laptop'))")).await;
    let listed = b.js(&format!("return document.querySelector('{card}').textContent")).await;
    assert!(!listed.as_str().unwrap().contains(&second), "a token is shown only once, never listed");
    b.screenshot("workspaces").await;

    b.js(&format!("[...document.querySelectorAll('{card} .token-list li')].find(li => li.textContent.includes('laptop')).querySelector('button').click()")).await;
    b.client.accept_alert().await.expect("the revoke confirmation");
    b.wait_js("the token gone", &format!("![...document.querySelectorAll('{card} .token-list li')].some(li => li.textContent.includes('laptop'))")).await;
    assert_eq!(get(h, "/api/agents", &second).await.0, StatusCode::UNAUTHORIZED, "revoked");
    assert_eq!(get(h, "/api/agents", &first).await.0, StatusCode::OK, "the other token still works");

    b.type_into(&format!("{card} form.new-invite input[name=max_uses]"), "2").await;
    b.click(&format!("{card} form.new-invite button[type=submit]")).await;
    let invite = secret(b, &second).await;
    let r = http().post(h.http("/api/invites/redeem")).json(&json!({"token": invite, "agent_name": "newbie"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the invite shown can be redeemed");
    let ws: Value = r.json().await.unwrap();
    assert_eq!(ws["name"], "lab");
    assert_eq!(ws["members"]["newbie"], "member");
}
