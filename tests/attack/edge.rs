//! The listeners as a stranger meets them: signals, slow and idle connections, connection caps,
//! tokens in headers, revoked tokens, close codes and expensive requests.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::harness::{ADMIN, ChildHub, Peer, workspace};

/// An agent socket with extra request headers; `Err` carries the HTTP refusal.
async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Peer, String> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = k.parse().unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    connect_async(req).await.map(|(ws, _)| Peer { ws }).map_err(|e| e.to_string())
}

/// Retries `connect_with` until admitted: a closed socket gives its place back a moment later.
async fn admitted_soon(url: &str, headers: &[(&str, &str)]) -> Peer {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match connect_with(url, headers).await {
            Ok(p) => return p,
            Err(e) if Instant::now() > deadline => panic!("never admitted again: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The socket answers a `presence` request: it is registered with the hub's session, not refused.
async fn answers(p: &mut Peer) {
    p.send(json!({"type": "presence", "sender": "probe", "id": "pr", "payload": {}})).await;
    let f = p.recv_until(|f| f["type"] == "presence" || f["type"] == "error").await;
    assert_eq!(f["type"], "presence", "{f}");
}

async fn close_all(peers: Vec<Peer>) {
    for mut p in peers {
        let _ = p.ws.close(None).await;
    }
}

/// Eight pipelined requests, then close at once: the hub writes responses into a socket the
/// peer already closed (EPIPE/ECONNRESET), which must not kill it.
#[tokio::test]
async fn pipelined_requests_then_close_do_not_kill_the_hub() {
    let mut hub = ChildHub::start().await;
    let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(8);
    for round in 0..200 {
        for port in [hub.http_port, hub.ws_port] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let _ = s.write_all(request.as_bytes()).await;
            drop(s);
        }
        if round % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            hub.assert_alive();
        }
    }
    // Serving again once the flood's connections are gone (they count against the address).
    drop(admitted_soon(&format!("{}?token={ADMIN}", hub.ws_url()), &[]).await);
    hub.assert_serving().await;
}

/// Half a request line, then nothing (or nothing at all): both listeners close the connection
/// after the header-read timeout (1 s here).
#[tokio::test]
async fn slow_headers_are_cut_after_the_timeout() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_HEADER_TIMEOUT_SECS", "1")]).await;
    for port in [hub.http_port, hub.ws_port] {
        for (label, sent) in [("half a request line", &b"GET /heal"[..]), ("nothing", &b""[..])] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(sent).await.unwrap();
            let started = Instant::now();
            let mut buf = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
            assert!(read.is_ok(), "port {port}: a connection that sent {label} is still open after 10 s");
            println!("port {port}: {label}, then closed after {:?} ({} bytes answered)", started.elapsed(), buf.len());
        }
    }
    hub.assert_serving().await;
}

/// A socket that never registers or sends anything is closed (4010) after the register timeout.
#[tokio::test]
async fn a_silent_agent_socket_is_closed() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_REGISTER_TIMEOUT_SECS", "1")]).await;
    let mut silent = hub.raw(ADMIN).await;
    let started = Instant::now();
    assert_eq!(silent.closed_with().await, 4010);
    println!("silent socket closed after {:?}", started.elapsed());
    // One that speaks in time stays: still there once a silent socket opened after it was closed.
    let mut talker = hub.agent_with(ADMIN, "talker", &["#t"]).await;
    let mut later = hub.raw(ADMIN).await;
    assert_eq!(later.closed_with().await, 4010);
    answers(&mut talker).await;
    hub.assert_serving().await;
}

/// Over the per-address cap a new connection is refused; after one closes, a new one is admitted.
#[tokio::test]
async fn connections_per_address_are_capped() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_MAX_CONNECTIONS_PER_ADDR", "4")]).await;
    let url = format!("{}?token={ADMIN}", hub.ws_url());
    let mut peers = Vec::new();
    for _ in 0..4 {
        peers.push(admitted_soon(&url, &[]).await);
    }
    let refused = connect_with(&url, &[]).await.err().expect("a fifth connection from 127.0.0.1 is refused");
    assert!(refused.contains("503"), "{refused}");
    let r = reqwest::get(hub.http("/healthz")).await;
    assert!(r.is_err() || r.unwrap().status() == 503, "the HTTP port shares the cap");
    let _ = peers.pop().unwrap().ws.close(None).await;
    let mut again = admitted_soon(&url, &[]).await;
    answers(&mut again).await;
    peers.push(again);
    close_all(peers).await;
    drop(admitted_soon(&url, &[]).await);
    hub.assert_serving().await;
}

/// Behind a trusted proxy each forwarded client has its own cap (close 1013 over it); from an
/// untrusted peer the same headers change nothing.
#[tokio::test]
async fn forwarded_client_addresses_count_only_from_trusted_proxies() {
    let mut hub =
        ChildHub::start_with(&[("SCITEX_OROCHI_TRUSTED_PROXIES", "127.0.0.1"), ("SCITEX_OROCHI_MAX_CONNECTIONS_PER_ADDR", "2")]).await;
    let url = format!("{}?token={ADMIN}", hub.ws_url());
    let a = [("CF-Connecting-IP", "203.0.113.5")];
    let mut peers = vec![admitted_soon(&url, &a).await, admitted_soon(&url, &a).await];
    let mut third = connect_with(&url, &a).await.expect("the upgrade completes, then closes");
    assert_eq!(third.closed_with().await, 1013, "a third socket for 203.0.113.5");
    let b = [("X-Forwarded-For", "203.0.113.6")];
    for _ in 0..2 {
        let mut p = connect_with(&url, &b).await.expect("another forwarded client has its own places");
        answers(&mut p).await;
        peers.push(p);
    }
    close_all(peers).await;
    hub.assert_serving().await;

    let mut untrusted = ChildHub::start_with(&[("SCITEX_OROCHI_MAX_CONNECTIONS_PER_ADDR", "2")]).await;
    let url = format!("{}?token={ADMIN}", untrusted.ws_url());
    let mut peers = Vec::new();
    for ip in ["203.0.113.7", "203.0.113.8"] {
        peers.push(admitted_soon(&url, &[("CF-Connecting-IP", ip)]).await);
    }
    let refused = connect_with(&url, &[("CF-Connecting-IP", "203.0.113.9")]).await.err();
    assert!(refused.is_some_and(|e| e.contains("503")), "an untrusted peer's header does not name the client");
    close_all(peers).await;
    drop(admitted_soon(&url, &[]).await);
    untrusted.assert_serving().await;
}

/// The token may come as `Authorization: Bearer` on the upgrade; a bad one is refused.
#[tokio::test]
async fn bearer_header_upgrade() {
    let mut hub = ChildHub::start().await;
    let mut p = connect_with(&hub.ws_url(), &[("Authorization", &format!("Bearer {ADMIN}"))]).await.unwrap();
    p.register("bearer-agent", &["#b"]).await;
    let ack = p.say("bearer-agent", "#b", "hello").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut bad = connect_with(&hub.ws_url(), &[("Authorization", "Bearer wrong")]).await.unwrap();
    bad.send(json!({"type": "register", "sender": "nobody", "id": "r", "payload": {}})).await;
    assert_eq!(bad.recv().await["payload"]["code"], "AUTH_FAILED");
    assert_eq!(bad.closed_with().await, 4001);
    hub.assert_serving().await;
}

/// A bad token is answered after the client's first frame (as the reference's clients expect),
/// or after a second when the client says nothing.
#[tokio::test]
async fn bad_token_is_answered_then_closed_4001() {
    let mut hub = ChildHub::start().await;
    let mut talker = hub.raw("wrong").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    talker.send(json!({"type": "register", "sender": "x", "id": "r1", "payload": {"channels": ["#a"]}})).await;
    let e = talker.recv().await;
    assert_eq!((e["type"].as_str(), e["payload"]["code"].as_str()), (Some("error"), Some("AUTH_FAILED")), "{e}");
    assert_eq!(talker.closed_with().await, 4001);
    let mut quiet = hub.raw("wks_00000000000000000000000000000000").await;
    let started = Instant::now();
    assert_eq!(quiet.recv().await["payload"]["code"], "AUTH_FAILED");
    assert_eq!(quiet.closed_with().await, 4001);
    println!("a silent client with a bad token is told after {:?}", started.elapsed());
    hub.assert_serving().await;
}

/// Revoking a workspace token closes the sockets that came with it, registered or not; so
/// does deleting its workspace.
#[tokio::test]
async fn revoking_a_token_closes_its_live_sockets() {
    let mut hub = ChildHub::start().await;
    let (id, token) = workspace(&hub, "revoked").await;
    let (other_id, other_token) = workspace(&hub, "kept").await;
    let mut agent = hub.agent_with(&token, "revokee", &["#r"]).await;
    let mut raw = hub.raw(&token).await;
    answers(&mut raw).await;
    let mut bystander = hub.agent_with(&other_token, "keeper", &["#r"]).await;
    let r = reqwest::Client::new()
        .delete(hub.http(&format!("/api/workspaces/{id}/tokens/{token}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(agent.closed_with().await, 4001);
    assert_eq!(raw.closed_with().await, 4001);
    answers(&mut bystander).await;
    let mut again = hub.raw(&token).await;
    assert_eq!(again.recv().await["payload"]["code"], "AUTH_FAILED");
    let r = reqwest::Client::new().delete(hub.http(&format!("/api/workspaces/{other_id}"))).bearer_auth(ADMIN).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(bystander.closed_with().await, 4001, "deleting a workspace revokes its tokens");
    hub.assert_serving().await;
}

/// Close codes say what happened: invalid UTF-8 1007, a protocol violation 1002, a frame over
/// the hard cap 1009; an oversized frame under it gets FRAME_TOO_LARGE, on the observer too.
#[tokio::test]
async fn close_codes_name_the_fault() {
    let mut hub = ChildHub::start_with(&[("SCITEX_OROCHI_MAX_FRAME_BYTES", "1000")]).await;
    let mut p = hub.raw(ADMIN).await;
    let bad_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    p.ws.send(Message::Frame(bad_utf8)).await.unwrap();
    assert_eq!(p.closed_with().await, 1007);

    let mut p = hub.raw(ADMIN).await;
    p.ws.send(Message::Frame(Frame::message(vec![1, 2], OpCode::Data(Data::Reserved(3)), true))).await.unwrap();
    assert_eq!(p.closed_with().await, 1002);

    let mut p = hub.raw(ADMIN).await;
    p.send_text(&"x".repeat(5000)).await;
    assert_eq!(p.closed_with().await, 1009);

    let observer_url = format!("ws://127.0.0.1:{}/ws?token={ADMIN}", hub.http_port);
    let mut o = Peer::connect(&observer_url).await;
    let big = json!({"type": "message", "sender": "user", "payload": {"channel": "#o", "content": "y".repeat(1500)}});
    o.send(big).await;
    let e = o.recv_until(|f| f["type"] == "error").await;
    assert_eq!(e["payload"]["code"], "FRAME_TOO_LARGE", "{e}");
    o.send_text(&"z".repeat(5000)).await;
    assert_eq!(o.closed_with().await, 1009);
    let mut o = Peer::connect(&observer_url).await;
    o.ws.send(Message::Frame(Frame::message(vec![0xff], OpCode::Data(Data::Text), true))).await.unwrap();
    assert_eq!(o.closed_with().await, 1007);
    hub.assert_serving().await;
}

/// The most expensive unauthenticated request: thousands of near-miss search terms. It is
/// answered (200 or 400) and the hub keeps serving; `/healthz` latency meanwhile is printed.
#[tokio::test]
async fn an_expensive_search_does_not_stall_the_hub() {
    let mut hub = ChildHub::start().await;
    let terms: Vec<String> = (0..9000).map(|i| format!("skil{}", i % 97)).collect();
    let flood = terms.join(" ");
    // The costliest queries within the bounds: eight typos, of rare and of common words (those
    // match weakly everywhere, so no entry is ruled out early).
    let near_miss = "agnet deploymnet etiquete dashbord confgiuration protocl websockt registr".to_string();
    let common = "thee agnets hubb messag tokne channle serveer clinet".to_string();
    let probe_url = hub.http("/healthz");
    let probe = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut worst = Duration::ZERO;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let t = Instant::now();
            let r = client.get(&probe_url).send().await.unwrap();
            assert!(r.status().is_success());
            worst = worst.max(t.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        worst
    });
    let client = reqwest::Client::new();
    for (label, query) in [("9000 terms", &flood), ("8 near misses", &near_miss), ("8 common typos", &common)] {
        for path in ["/api/docs", "/api/skills", "/docs"] {
            let started = Instant::now();
            let q: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
            let r = client.get(hub.http(&format!("{path}?q={q}"))).send().await.unwrap();
            let status = r.status().as_u16();
            assert!(status == 200 || status == 400, "{path}: {status}");
            println!("{path}?q=<{label}>: {status} in {:?}", started.elapsed());
        }
    }
    let worst = probe.await.unwrap();
    println!("worst /healthz during the searches: {worst:?}");
    hub.assert_serving().await;
}
