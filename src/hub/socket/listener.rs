//! Both listeners: accept TCP connections and serve HTTP/1 (with upgrades) on them ourselves,
//! because `axum::serve` has no header-read timeout and no connection caps. Open connections
//! are counted per client address and in total; the client address is the TCP peer, or what a
//! trusted proxy says in `CF-Connecting-IP` / `X-Forwarded-For`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

use crate::hub::socket::conn::close_code;
use crate::config::Config;

/// The client address of a request: the TCP peer, or the client a trusted proxy names.
/// Every request served here carries it as an extension.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// What both listeners share: the timeout, the caps and who may name the client.
pub struct Edge {
    header_timeout: Duration,
    trusted: Vec<IpNet>,
    limits: Limits,
}

impl Edge {
    pub fn new(config: &Config) -> Arc<Edge> {
        Arc::new(Edge {
            header_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
            trusted: config.trusted_proxies.clone(),
            limits: Limits {
                total: config.max_connections as usize,
                per_addr: config.max_connections_per_addr as usize,
                open: Mutex::default(),
            },
        })
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// The client behind a trusted proxy: `CF-Connecting-IP`, else the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    fn forwarded_client(&self, headers: &HeaderMap) -> Option<IpAddr> {
        let text = |name: &str| headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        if let Some(ip) = text("cf-connecting-ip").first().and_then(|v| v.trim().parse().ok()) {
            return Some(ip);
        }
        let xff = text("x-forwarded-for");
        let hops = xff.iter().flat_map(|v| v.split(',')).map(str::trim).collect::<Vec<_>>();
        hops.iter().rev().filter_map(|h| h.parse::<IpAddr>().ok()).find(|ip| !self.is_trusted(*ip))
    }

    /// A place for a connection: in the total (`total`), for an address, or both.
    fn admit(self: &Arc<Self>, total: bool, addr: Option<IpAddr>) -> Option<Slot> {
        let l = &self.limits;
        let mut open = l.open.lock().expect("limits lock");
        if total && open.total >= l.total {
            return None;
        }
        if addr.is_some_and(|a| open.by_addr.get(&a).copied().unwrap_or(0) >= l.per_addr) {
            return None;
        }
        open.total += usize::from(total);
        if let Some(a) = addr {
            *open.by_addr.entry(a).or_default() += 1;
        }
        Some(Slot { edge: self.clone(), total, addr })
    }

    /// Counts the connection for `addr` from now on; the connection's previous request (the
    /// same client or another) gives its place back first.
    fn admit_client(self: &Arc<Self>, client: &ClientSlot, addr: IpAddr) -> bool {
        let mut held = client.lock().expect("client slot lock");
        *held = None;
        *held = self.admit(false, Some(addr));
        held.is_some()
    }
}

/// Open connections per client address and in total.
struct Limits {
    total: usize,
    per_addr: usize,
    open: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_addr: HashMap<IpAddr, usize>,
}

/// A connection counted against the caps (in total, for an address, or both); released on
/// drop, so every way a connection ends gives its place back.
struct Slot {
    edge: Arc<Edge>,
    total: bool,
    addr: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.edge.limits.open.lock().expect("limits lock");
        open.total -= usize::from(self.total);
        if let Some(a) = self.addr
            && let Entry::Occupied(mut e) = open.by_addr.entry(a)
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// Behind a trusted proxy, the client of the connection's current request; after an upgrade,
/// the WebSocket's client.
type ClientSlot = Arc<Mutex<Option<Slot>>>;

/// The TCP stream with the places it holds: they live as long as the socket does, through an
/// upgrade to a WebSocket (hyper keeps this stream inside the upgraded connection).
struct Counted {
    tcp: TcpStream,
    _slot: Slot,
    _client: Option<ClientSlot>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Resolves once the hub is stopping; never if the stop handle is gone without a stop.
async fn stopping(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Accepts until the hub stops; each connection is served on its own task.
pub async fn serve(listener: TcpListener, app: Router, edge: Arc<Edge>, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopping(&mut stopped) => break,
        };
        match accepted {
            Ok((tcp, peer)) => drop(tokio::spawn(connection(tcp, peer, app.clone(), edge.clone(), stopped.clone()))),
            Err(e) => {
                // Out of descriptors and the like: wait for connections to end, do not spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, app: Router, edge: Arc<Edge>, mut stopped: watch::Receiver<bool>) {
    // Small frames (acks, live messages) must not wait for Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let trusted = edge.is_trusted(peer.ip());
    // A proxy's own address carries many clients: behind it, each request names its client.
    let Some(slot) = edge.admit(true, (!trusted).then_some(peer.ip())) else {
        tracing::debug!(peer = %peer, "over a connection cap; refused");
        return refuse(tcp).await;
    };
    let client = trusted.then(ClientSlot::default);
    let io = TokioIo::new(Counted { tcp, _slot: slot, _client: client.clone() });
    let timeout = edge.header_timeout;
    let service = hyper::service::service_fn(move |req| request(req, peer, app.clone(), edge.clone(), client.clone()));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r {
            tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
        },
        _ = stopping(&mut stopped) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// A bare 503 before any header is read. The request is drained for a moment after it: a
/// socket closed with unread input sends a reset, which can overtake the 503.
async fn refuse(mut tcp: TcpStream) {
    const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\nretry-after: 5\r\n\r\n";
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        tcp.write_all(REFUSED).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

async fn request(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    mut app: Router,
    edge: Arc<Edge>,
    client: Option<ClientSlot>,
) -> Result<Response<Body>, Infallible> {
    req.extensions_mut().insert(ConnectInfo(peer));
    let mut addr = peer.ip();
    if let Some(client) = client {
        addr = edge.forwarded_client(req.headers()).unwrap_or(peer.ip());
        if !edge.admit_client(&client, addr) {
            tracing::debug!(client = %addr, "over the per-address connection cap");
            return Ok(over_capacity(req).await);
        }
    }
    req.extensions_mut().insert(ClientAddr(addr));
    app.call(req).await
}

/// 503, or for a WebSocket upgrade an upgraded socket closed with 1013 (try again later).
async fn over_capacity(req: Request<Incoming>) -> Response<Body> {
    let (mut parts, _) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws.on_upgrade(|mut socket| async move {
            let close = CloseFrame { code: close_code::TRY_AGAIN_LATER, reason: "too many connections from this address".into() };
            let _ = socket.send(Message::Close(Some(close))).await;
        }),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "too many connections from this address").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(pairs: &[(&str, &str)]) -> Arc<Edge> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Edge::new(&Config::from_lookup(move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap())
    }

    #[test]
    fn places_are_given_back_on_drop() {
        let e = edge(&[("SCITEX_OROCHI_MAX_CONNECTIONS", "3"), ("SCITEX_OROCHI_MAX_CONNECTIONS_PER_ADDR", "2")]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = e.admit(true, Some(a)).unwrap();
        let _second = e.admit(true, Some(a)).unwrap();
        assert!(e.admit(true, Some(a)).is_none(), "per-address cap");
        let _third = e.admit(true, Some(b)).unwrap();
        assert!(e.admit(true, Some(b)).is_none(), "total cap");
        drop(first);
        assert!(e.admit(false, Some(a)).is_some(), "a place came back");
        drop(_second);
        assert!(!e.limits.open.lock().unwrap().by_addr.contains_key(&a), "empty entries leave the map");
    }

    #[test]
    fn forwarded_client_skips_trusted_hops() {
        let e = edge(&[("SCITEX_OROCHI_TRUSTED_PROXIES", "10.0.0.0/8")]);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.1.2.3".parse().unwrap());
        assert_eq!(e.forwarded_client(&h), Some("203.0.113.9".parse().unwrap()));
        h.insert("cf-connecting-ip", "2001:db8::1".parse().unwrap());
        assert_eq!(e.forwarded_client(&h), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(e.forwarded_client(&HeaderMap::new()), None);
    }
}
