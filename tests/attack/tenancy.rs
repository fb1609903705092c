//! Tenancy and message naming: a token reads exactly what it could have received live, and the
//! hub names messages itself, storing a resent frame once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{ADMIN, ChildHub, Peer, workspace};

const QUIET: Duration = Duration::from_millis(300);

async fn get(hub: &ChildHub, token: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(hub.http(path)).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post_rest(hub: &ChildHub, channel: &str, content: &str) -> Value {
    let r = reqwest::Client::new()
        .post(hub.http("/api/messages"))
        .bearer_auth(ADMIN)
        .json(&json!({"sender": "rest-user", "payload": {"channel": channel, "content": content}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn contents(rows: &Value) -> BTreeSet<String> {
    rows.as_array().expect("rows").iter().map(|r| r["content"].as_str().unwrap().to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A `query` on an agent socket: the history rows.
async fn query(p: &mut Peer, id: &str, payload: Value) -> Value {
    p.send(json!({"type": "query", "id": id, "payload": payload})).await;
    let reply = p.recv_until(|f| f["type"] == "message" && f["payload"]["ref"] == id).await;
    reply["payload"]["history"].clone()
}

/// Live message frames until `QUIET` passes without one: their contents.
async fn drain_live(p: &mut Peer) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    loop {
        match tokio::time::timeout(QUIET, p.recv()).await {
            Ok(f) if f["type"] == "message" && f["payload"]["history"].is_null() => {
                got.insert(f["payload"]["content"].as_str().unwrap().to_string());
            }
            Ok(_) => {}
            Err(_) => return got,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_every_read_shows_exactly_what_the_token_received_live() {
    let mut hub = ChildHub::start().await;
    let (_, ta) = workspace(&hub, "alpha").await;
    let (_, tb) = workspace(&hub, "beta").await;
    let mut a1 = hub.agent_with(&ta, "a-one", &["#t"]).await;
    let mut a2 = hub.agent_with(&ta, "a-two", &["#t"]).await;
    let mut b1 = hub.agent_with(&tb, "b-one", &["#t"]).await;
    let mut b2 = hub.agent_with(&tb, "b-two", &["#t"]).await;
    let mut d1 = hub.agent_with(ADMIN, "d-one", &["#t"]).await;
    let mut d2 = hub.agent_with(ADMIN, "d-two", &["#t"]).await;

    let from_a = a1.say("a-one", "#t", "from-a @b-two").await;
    let from_b = b1.say("b-one", "#t", "from-b").await;
    let from_d = d1.say("d-one", "#t", "from-admin-agent").await;
    let rest = post_rest(&hub, "#t", "from-rest").await;
    for ack in [&from_a, &from_b, &from_d] {
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    assert_eq!(rest["id"], rest["msg_id"]);

    // Live: each workspace gets its own and the admin's unregistered post; the mention of a
    // name in another workspace reaches nobody there.
    let live_a = drain_live(&mut a2).await;
    let live_b = drain_live(&mut b2).await;
    let live_d = drain_live(&mut d2).await;
    assert_eq!(live_a, set(&["from-a @b-two", "from-rest"]));
    assert_eq!(live_b, set(&["from-b", "from-rest"]));
    assert_eq!(live_d, set(&["from-admin-agent", "from-rest"]));
    let all = set(&["from-a @b-two", "from-b", "from-admin-agent", "from-rest"]);

    // REST reads.
    for (token, want) in [(&ta, &live_a), (&tb, &live_b)] {
        assert_eq!(contents(&get(&hub, token, "/api/messages").await.1), *want);
        assert_eq!(contents(&get(&hub, token, "/api/history/t").await.1), *want);
        assert_eq!(contents(&get(&hub, token, "/api/history/t?after_seq=0").await.1), *want);
        assert_eq!(contents(&get(&hub, token, "/api/history/t?contains=FROM").await.1), *want);
    }
    assert!(contents(&get(&hub, &ta, "/api/history/t?sender=b-one").await.1).is_empty(), "sender filter leaks");
    assert_eq!(contents(&get(&hub, ADMIN, "/api/messages").await.1), all, "the admin reads everything");
    assert_eq!(contents(&get(&hub, ADMIN, "/api/history/t").await.1), all);

    // Socket queries: latest page, resume, search.
    for (p, want) in [(&mut a2, &live_a), (&mut b2, &live_b)] {
        assert_eq!(contents(&query(p, "q1", json!({"channel": "#t"})).await), *want);
        assert_eq!(contents(&query(p, "q2", json!({"channel": "#t", "after_seq": 0})).await), *want);
        assert_eq!(contents(&query(p, "q3", json!({"channel": "#t", "contains": "from"})).await), *want);
        assert_eq!(contents(&query(p, "q4", json!({"channel": "#t", "sender": "d-one"})).await), set(&[]));
    }

    // Reactions: adding to an invisible message is NOT_FOUND; reading leaves them out.
    let id_of = |ack: &Value| ack["payload"]["msg_id"].as_str().unwrap().to_string();
    let (id_a, id_b, id_d, id_rest) = (id_of(&from_a), id_of(&from_b), id_of(&from_d), rest["msg_id"].as_str().unwrap().to_string());
    b2.send(json!({"type": "react", "id": "r-own", "payload": {"message_id": id_b, "emoji": "👍"}})).await;
    let ok = b2.recv_until(|f| f["payload"]["ref"] == "r-own").await;
    assert_eq!(ok["type"], "ack", "{ok}");
    for (i, id) in [&id_b, &id_d].into_iter().enumerate() {
        let r = format!("r-foreign-{i}");
        a2.send(json!({"type": "react", "id": r, "payload": {"message_id": id, "emoji": "👀"}})).await;
        let err = a2.recv_until(|f| f["payload"]["ref"] == r.as_str()).await;
        assert_eq!((err["type"].as_str(), err["payload"]["code"].as_str()), (Some("error"), Some("NOT_FOUND")), "{err}");
    }
    a2.send(json!({"type": "react", "id": "r-rest", "payload": {"message_id": id_rest, "emoji": "✅"}})).await;
    assert_eq!(a2.recv_until(|f| f["payload"]["ref"] == "r-rest").await["type"], "ack");
    let ids = [&id_a, &id_b, &id_d, &id_rest].map(|s| s.as_str()).join(",");
    let seen = |v: Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    let path = format!("/api/reactions?message_ids={ids}");
    assert_eq!(seen(get(&hub, &ta, &path).await.1), [id_rest.clone()].into());
    assert_eq!(seen(get(&hub, &tb, &path).await.1), [id_b.clone(), id_rest.clone()].into());
    assert_eq!(seen(get(&hub, ADMIN, &path).await.1), [id_b, id_rest].into());

    // Channel listings show a workspace only its own members.
    let channels = get(&hub, &tb, "/api/channels").await.1;
    assert_eq!(channels["#t"], json!(["b-one", "b-two"]), "{channels}");
    let channels = get(&hub, ADMIN, "/api/channels").await.1;
    assert_eq!(channels["#t"].as_array().unwrap().len(), 6, "{channels}");

    // The observer socket stays admin-only.
    let r = reqwest::Client::new().get(hub.http(&format!("/ws?token={ta}"))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    hub.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_unregistered_workspace_socket_reaches_only_its_workspace() {
    let mut hub = ChildHub::start().await;
    let (_, ta) = workspace(&hub, "alpha").await;
    let (_, tb) = workspace(&hub, "beta").await;
    let mut a2 = hub.agent_with(&ta, "a-two", &["#u"]).await;
    let mut b2 = hub.agent_with(&tb, "b-two", &["#u"]).await;
    let mut d2 = hub.agent_with(ADMIN, "d-two", &["#u"]).await;
    let mut anon = hub.raw(&ta).await;
    let ack = anon.say("ghost-a", "#u", "unregistered from a @b-two @d-two").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    assert_eq!(drain_live(&mut a2).await, set(&["unregistered from a @b-two @d-two"]));
    b2.expect_silence(QUIET).await;
    d2.expect_silence(QUIET).await;
    assert!(contents(&get(&hub, &tb, "/api/history/u").await.1).is_empty());
    // A channel only workspace alpha wrote to is not listed for beta.
    assert_eq!(anon.say("ghost-a", "#alpha-only", "private").await["type"], "ack");
    assert!(get(&hub, &ta, "/api/channels").await.1.get("#alpha-only").is_some());
    assert!(get(&hub, &tb, "/api/channels").await.1.get("#alpha-only").is_none());
    assert!(get(&hub, &tb, "/api/stats").await.1["channels"].as_array().unwrap().iter().all(|c| c != "#alpha-only"));
    hub.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_seq_is_a_cursor_that_skips_rows_a_tenant_cannot_read() {
    let mut hub = ChildHub::start().await;
    let (_, ta) = workspace(&hub, "alpha").await;
    let (_, tb) = workspace(&hub, "beta").await;
    let mut a = hub.agent_with(&ta, "a-one", &["#c"]).await;
    let mut b = hub.agent_with(&tb, "b-one", &["#c"]).await;
    let seq = |ack: Value| ack["payload"]["seq"].as_u64().unwrap();
    let seqs = [
        seq(a.say("a-one", "#c", "m0").await),
        seq(b.say("b-one", "#c", "m1").await),
        seq(b.say("b-one", "#c", "m2").await),
        seq(a.say("a-one", "#c", "m3").await),
    ];
    assert_eq!(seqs, [1, 2, 3, 4], "seq stays per channel");
    let seq_list = |rows: &Value| -> Vec<u64> { rows.as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect() };
    assert_eq!(seq_list(&query(&mut a, "r0", json!({"channel": "#c", "after_seq": 0})).await), [1, 4]);
    assert_eq!(seq_list(&query(&mut a, "r1", json!({"channel": "#c", "after_seq": 1, "limit": 1})).await), [4]);
    assert_eq!(seq_list(&query(&mut b, "r2", json!({"channel": "#c", "after_seq": 0, "limit": 1})).await), [2]);
    assert_eq!(seq_list(&query(&mut b, "r3", json!({"channel": "#c", "after_seq": 2})).await), [3]);
    assert_eq!(seq_list(&get(&hub, &ta, "/api/history/c?after_seq=1").await.1), [4]);
    hub.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgs_same_frame_id_from_two_senders_is_two_messages() {
    let mut hub = ChildHub::start().await;
    let (_, ta) = workspace(&hub, "alpha").await;
    let mut x = hub.agent_with(ADMIN, "xavier", &["#d"]).await;
    let mut y = hub.agent_with(ADMIN, "yvonne", &["#d"]).await;
    let mut z = hub.agent_with(&ta, "zed", &["#d"]).await;
    let mut acks = Vec::new();
    for (p, name) in [(&mut x, "xavier"), (&mut y, "yvonne"), (&mut z, "zed")] {
        p.send(json!({"type": "message", "sender": name, "id": "m0", "payload": {"channel": "#d", "content": name}})).await;
        let ack = p.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "m0").await;
        acks.push(ack);
    }
    let ids: BTreeSet<&str> = acks.iter().map(|a| a["payload"]["msg_id"].as_str().unwrap()).collect();
    let seqs: BTreeSet<u64> = acks.iter().map(|a| a["payload"]["seq"].as_u64().unwrap()).collect();
    assert_eq!((ids.len(), seqs.len()), (3, 3), "{acks:?}");
    assert!(!ids.contains("m0"), "the hub names messages, not the client");
    let rows = get(&hub, ADMIN, "/api/history/d").await.1;
    let row_ids: BTreeSet<&str> = rows.as_array().unwrap().iter().map(|r| r["msg_id"].as_str().unwrap()).collect();
    assert_eq!(row_ids, ids);
    hub.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgs_resent_frame_is_stored_once_even_across_a_restart() {
    let mut hub = ChildHub::start().await;
    let mut s = hub.agent_with(ADMIN, "sender", &["#r"]).await;
    let mut w = hub.agent_with(ADMIN, "watcher", &["#r"]).await;
    let frame = |content: &str| json!({"type": "message", "sender": "sender", "id": "once", "payload": {"channel": "#r", "content": content}});
    s.send(frame("first")).await;
    let first = s.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "once").await;
    let place = |ack: &Value| (ack["payload"]["seq"].clone(), ack["payload"]["msg_id"].clone());
    assert_eq!(w.recv_until(|f| f["type"] == "message").await["id"], first["payload"]["msg_id"]);

    // Sequential resend, then two copies in flight at once (likely one group-commit batch).
    s.send(frame("again")).await;
    let again = s.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "once").await;
    assert_eq!(place(&again), place(&first));
    let pair = |id: &str| json!({"type": "message", "sender": "sender", "id": id, "payload": {"channel": "#r", "content": id}});
    s.send(pair("twin")).await;
    s.send(pair("twin")).await;
    let t1 = s.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "twin").await;
    let t2 = s.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "twin").await;
    assert_eq!(place(&t1), place(&t2));
    assert_eq!(w.recv_until(|f| f["type"] == "message").await["payload"]["content"], "twin");
    w.expect_silence(QUIET).await;
    let count = |rows: Value| rows.as_array().unwrap().len();
    assert_eq!(count(get(&hub, ADMIN, "/api/history/r").await.1), 2);

    // The key survives a restart.
    drop((s, w));
    hub.restart().await;
    let mut s = hub.agent_with(ADMIN, "sender", &["#r"]).await;
    s.send(frame("after restart")).await;
    let after = s.recv_until(|f| f["type"] == "ack" && f["payload"]["ref"] == "once").await;
    assert_eq!(place(&after), place(&first));
    let rows = get(&hub, ADMIN, "/api/history/r").await.1;
    assert_eq!(contents(&rows), set(&["first", "twin"]), "stored once");
    // A new id is a new message.
    let fresh = s.say("sender", "#r", "fresh").await;
    assert_eq!(fresh["payload"]["seq"], 3);
    hub.assert_serving().await;
}

/// A WebSocket proxy in front of the hub that, once, swallows the ack of a client's message
/// and drops the connection: the message is stored, the client never learns it. Returns the
/// proxy's URL and whether it has swallowed the ack.
#[allow(clippy::result_large_err)] // tungstenite's handshake callback returns its own error type
async fn ack_losing_proxy(hub_ws: String) -> (String, Arc<AtomicBool>) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let swallowed = Arc::new(AtomicBool::new(false));
    let flag = swallowed.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (hub_ws, swallowed) = (hub_ws.clone(), swallowed.clone());
            tokio::spawn(async move {
                // The path (a `?token=`) and the `Authorization` header go on to the hub as sent.
                let mut path = String::new();
                let mut auth = None;
                let keep_path = |req: &Request, resp: Response| {
                    path = req.uri().to_string();
                    auth = req.headers().get("authorization").cloned();
                    Ok(resp)
                };
                let Ok(client) = tokio_tungstenite::accept_hdr_async(tcp, keep_path).await else { return };
                let mut upstream = format!("{}{}", hub_ws.trim_end_matches('/'), path).into_client_request().unwrap();
                if let Some(a) = auth {
                    upstream.headers_mut().insert("authorization", a);
                }
                let Ok((hub, _)) = tokio_tungstenite::connect_async(upstream).await else { return };
                let (mut to_client, mut from_client) = client.split();
                let (mut to_hub, mut from_hub) = hub.split();
                let mut sent_messages = BTreeSet::new();
                loop {
                    tokio::select! {
                        m = from_client.next() => {
                            let Some(Ok(m)) = m else { return };
                            if let Message::Text(t) = &m
                                && let Ok(f) = serde_json::from_str::<Value>(t.as_str())
                                && f["type"] == "message"
                            {
                                sent_messages.insert(f["id"].as_str().unwrap_or_default().to_string());
                            }
                            if to_hub.send(m).await.is_err() { return }
                        }
                        m = from_hub.next() => {
                            let Some(Ok(m)) = m else { return };
                            if let Message::Text(t) = &m
                                && let Ok(f) = serde_json::from_str::<Value>(t.as_str())
                                && f["type"] == "ack"
                                && f["payload"]["ref"].as_str().is_some_and(|r| sent_messages.contains(r))
                                && !swallowed.swap(true, Ordering::SeqCst)
                            {
                                return; // both sockets dropped: the client sees a lost connection
                            }
                            if to_client.send(m).await.is_err() { return }
                        }
                    }
                }
            });
        }
    });
    (format!("ws://{addr}/"), flag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msgs_client_resends_after_a_lost_ack_and_the_hub_stores_once() {
    use scitex_orochi::{ClientOptions, OrochiClient};
    let mut hub = ChildHub::start().await;
    let (proxy, swallowed) = ack_losing_proxy(hub.ws_url()).await;
    let mut o = ClientOptions::new(proxy, ADMIN, "resender");
    o.channels = vec!["#lost".into()];
    o.heartbeat = None;
    let client = OrochiClient::connect(o).await.unwrap();
    let receipt = tokio::time::timeout(Duration::from_secs(20), client.send("#lost", "only once", None))
        .await
        .expect("the send completes after the reconnect")
        .expect("acked");
    assert!(swallowed.load(Ordering::SeqCst), "the first ack was lost on the way");
    let rows = get(&hub, ADMIN, "/api/history/lost").await.1;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "stored once: {rows:?}");
    assert_eq!((rows[0]["seq"].as_u64(), rows[0]["msg_id"].as_str()), (Some(receipt.seq), Some(receipt.id.as_str())));
    // The reconnected client keeps working.
    let next = client.send("#lost", "next", None).await.unwrap();
    assert_eq!(next.seq, receipt.seq + 1);
    client.close().await;
    hub.assert_serving().await;
}
