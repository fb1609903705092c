//! Files reach the composer the two ways the Attach button does not cover: a clipboard paste
//! into the message box and a drag-and-drop onto the conversation. The events are synthesized
//! in the page (a `ClipboardEvent` / `DragEvent` carrying a real PNG in a `DataTransfer`); the
//! upload, the send and what the agent receives are real.

use base64::Engine;
use serde_json::{Value, json};

use crate::common::*;
use crate::dashboard::{ME, page_errors, sign_in};
use crate::driver::{Browser, ENTER};

/// Page script: `window.testFile(name)` makes a `File` of the dashboard's own 192 px icon.
fn file_maker() -> String {
    let png = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard/static/orochi-192.png")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    format!("window.testFile = (name) => new File([Uint8Array.from(atob('{b64}'), (c) => c.charCodeAt(0))], name, {{ type: 'image/png' }}); return true;")
}

/// Waits for the message from the page, as the agent gets it, and returns its one attachment.
async fn attachment_from_me(worker: &mut Peer, content: &str) -> Value {
    let got = worker.recv_until(|f| f["type"] == "message" && f["sender"] == ME).await;
    assert_eq!(got["payload"]["content"], content);
    let atts = got["payload"]["attachments"].as_array().unwrap_or_else(|| panic!("no attachments: {got}"));
    assert_eq!(atts.len(), 1, "{got}");
    atts[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paste_and_drop_attach_files_to_the_next_message() {
    let h = start_hub().await;
    let b = Browser::start().await;
    let mut worker = h.agent("worker-1", &["#general"]).await;
    sign_in(&b, &h.http("/"), ADMIN).await;
    b.js(&file_maker()).await;

    // Paste: the composer takes the file (the default paste is prevented), uploads it, and the
    // next message carries it.
    let prevented = b
        .js(r#"const dt = new DataTransfer(); dt.items.add(window.testFile('pasted.png'));
            const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
            document.getElementById('msg-input').dispatchEvent(ev);
            return ev.defaultPrevented;"#)
        .await;
    assert_eq!(prevented, json!(true));
    b.wait_js("the pasted file uploaded", "[...document.querySelectorAll('#pending-files .chip.ready')].some(c => c.textContent.includes('pasted.png'))").await;
    b.type_into("#msg-input", &format!("a pasted image{ENTER}")).await;
    let att = attachment_from_me(&mut worker, "a pasted image").await;
    assert_eq!((att["filename"].as_str(), att["mime_type"].as_str()), (Some("pasted.png"), Some("image/png")), "{att}");
    b.wait_js("the chip cleared after sending", "document.querySelectorAll('#pending-files .chip').length === 0").await;
    // The upload is the file itself.
    let stored = reqwest::Client::new().get(h.http(att["url"].as_str().unwrap())).bearer_auth(ADMIN).send().await.unwrap().bytes().await.unwrap();
    let icon = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/dashboard/static/orochi-192.png")).unwrap();
    assert_eq!(stored.as_ref(), icon.as_slice());

    // A paste of plain text is left to the browser: no file, nothing prevented.
    let prevented = b
        .js(r#"const dt = new DataTransfer(); dt.setData('text/plain', 'just text');
            const ev = new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true });
            document.getElementById('msg-input').dispatchEvent(ev);
            return [ev.defaultPrevented, document.querySelectorAll('#pending-files .chip').length];"#)
        .await;
    assert_eq!(prevented, json!([false, 0]));

    // Drag-and-drop onto the conversation: the hint shows while a file is over it, the drop
    // uploads, Send sends it alone (its name as the text).
    let hint = b
        .js(r#"const dt = new DataTransfer(); dt.items.add(window.testFile('dropped.png'));
            window.dropData = dt;
            const zone = document.getElementById('conversation');
            const over = new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true });
            zone.dispatchEvent(over);
            return [over.defaultPrevented, document.getElementById('drop-hint').hidden];"#)
        .await;
    assert_eq!(hint, json!([true, false]), "dragover accepted, hint shown");
    let dropped = b
        .js(r#"const ev = new DragEvent('drop', { dataTransfer: window.dropData, bubbles: true, cancelable: true });
            document.getElementById('conversation').dispatchEvent(ev);
            return [ev.defaultPrevented, document.getElementById('drop-hint').hidden];"#)
        .await;
    assert_eq!(dropped, json!([true, true]), "drop taken, hint hidden");
    b.wait_js("the dropped file uploaded", "[...document.querySelectorAll('#pending-files .chip.ready')].some(c => c.textContent.includes('dropped.png'))").await;
    b.click("#send-btn").await;
    let att = attachment_from_me(&mut worker, "dropped.png").await;
    assert_eq!(att["filename"], "dropped.png");
    b.wait_js("the dropped image inline", "[...document.querySelectorAll('.msg .attachment.image img')].filter(i => i.complete && i.naturalWidth === 192).length >= 2").await;

    // Dragging text (no file) over the conversation is not taken.
    let text_drag = b
        .js(r#"const dt = new DataTransfer(); dt.setData('text/plain', 'x');
            const ev = new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true });
            document.getElementById('conversation').dispatchEvent(ev);
            return ev.defaultPrevented;"#)
        .await;
    assert_eq!(text_drag, json!(false));
    assert_eq!(page_errors(&b).await, Vec::<Value>::new());
    b.screenshot("paste-and-drop").await;
    b.close().await;
}
