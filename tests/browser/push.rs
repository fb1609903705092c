//! The push button's wiring. The browser's own push service is out of reach offline, so the
//! page's `PushManager` and permission prompt are stood in for; everything else is real: the
//! click, the hub's VAPID key, `POST /api/push/subscribe` with this browser's keys and name,
//! the state shown, and unsubscribing.

use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::ME;
use crate::driver::Browser;

const ENDPOINT: &str = "http://127.0.0.1:9/push/this-browser";

async fn hub_state(h: &TestHub) -> Value {
    let url = h.http(&format!("/api/push/subscription?endpoint={ENDPOINT}"));
    reqwest::Client::new().get(url).bearer_auth(ADMIN).send().await.unwrap().json().await.unwrap()
}

pub async fn push_button(b: &Browser, h: &TestHub) {
    assert_eq!(b.js("return document.getElementById('push-state').textContent").await, json!("push: off"));
    b.js(&format!(r#"return (async () => {{
        const pair = await crypto.subtle.generateKey({{ name: 'ECDH', namedCurve: 'P-256' }}, true, ['deriveBits']);
        const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
        const auth = crypto.getRandomValues(new Uint8Array(16));
        const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
        let current = null;
        window.__vapidKeyBytes = [];
        PushManager.prototype.getSubscription = async function () {{ return current; }};
        PushManager.prototype.subscribe = async function (opts) {{
          window.__vapidKeyBytes.push(opts.applicationServerKey.byteLength);
          current = {{
            endpoint: '{ENDPOINT}',
            toJSON() {{ return {{ endpoint: this.endpoint, keys: {{ p256dh: b64u(raw), auth: b64u(auth) }} }}; }},
            unsubscribe: async () => {{ current = null; return true; }},
          }};
          return current;
        }};
        Notification.requestPermission = async () => 'granted';
        return true;
    }})()"#))
    .await;
    b.click("#push-toggle").await;
    b.wait_js("push: on", "document.getElementById('push-state').textContent === 'push: on'").await;
    assert_eq!(b.js("return window.__vapidKeyBytes").await, json!([65]), "subscribed with the hub's P-256 VAPID key");
    let state = hub_state(h).await;
    assert_eq!((state["subscribed"].as_bool(), state["name"].as_str()), (Some(true), Some(ME)), "{state}");
    assert_eq!(b.js("return document.getElementById('push-toggle').textContent").await, json!("Disable notifications"));

    b.click("#push-toggle").await;
    b.wait_js("push: off", "document.getElementById('push-state').textContent === 'push: off'").await;
    assert_eq!(hub_state(h).await["subscribed"], false, "unsubscribed at the hub too");
}
