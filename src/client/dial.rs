//! Opening a WebSocket to the hub: straight to it, or through an HTTP proxy with `CONNECT`
//! when the environment names one for the host (`HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for
//! `ws://`, `ALL_PROXY`, `NO_PROXY`: reqwest's own rules, through the same matcher); then TLS
//! with the one shared configuration.

use std::time::Duration;

use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, client_async_tls_with_config};

use crate::tls::TlsFailure;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest proxy reply head read.
const MAX_PROXY_HEAD: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error(transparent)]
    Tls(#[from] TlsFailure),
    #[error("proxy {proxy}: {reason}")]
    Proxy { proxy: String, reason: String },
    #[error("{0}")]
    Other(String),
}

/// Connects, upgrades and returns the socket; a failed certificate check is [`DialError::Tls`].
pub async fn connect(request: Request, config: Option<WebSocketConfig>) -> Result<(Ws, Response), DialError> {
    connect_within(request, config, None).await
}

/// [`connect`], giving up when the TCP connection (or the proxy's tunnel) is not made within
/// `tcp_limit`. Only that step is bounded: a SYN dropped by a full accept queue is better sent
/// again at once than after the kernel's 1, 3 and 7 s, but a connection the hub has queued is
/// served in turn, and giving it up would only queue a new one behind it, after the hub had
/// spent its work on the one given up.
pub async fn connect_within(request: Request, config: Option<WebSocketConfig>, tcp_limit: Option<Duration>) -> Result<(Ws, Response), DialError> {
    let uri = request.uri();
    let host = uri.host().ok_or_else(|| DialError::Other("the URL names no host".into()))?.trim_matches(['[', ']']).to_string();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = async {
        match proxy_for(&host, port, tls) {
            Some(proxy) => through_proxy(&proxy, &host, port).await,
            None => TcpStream::connect((host.as_str(), port)).await.map_err(|e| DialError::Other(e.to_string())),
        }
    };
    let tcp = match tcp_limit {
        Some(limit) => tokio::time::timeout(limit, tcp).await.map_err(|_| DialError::Other(format!("no TCP connection within {limit:?}")))??,
        None => tcp.await?,
    };
    let _ = tcp.set_nodelay(true);
    let connector = Connector::Rustls(crate::tls::client_config());
    client_async_tls_with_config(request, tcp, config, Some(connector)).await.map_err(|e| match TlsFailure::find(&host, &e) {
        Some(t) => DialError::Tls(t),
        None => DialError::Other(e.to_string()),
    })
}

/// The proxy for `host:port`, as reqwest would choose it for the same `https://` (or `http://`) URL.
fn proxy_for(host: &str, port: u16, tls: bool) -> Option<Intercept> {
    let shown = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    let uri: Uri = format!("{}://{shown}:{port}/", if tls { "https" } else { "http" }).parse().ok()?;
    Matcher::from_env().intercept(&uri)
}

/// A tunnel to `host:port` through an `http://` proxy.
async fn through_proxy(proxy: &Intercept, host: &str, port: u16) -> Result<TcpStream, DialError> {
    let p = proxy.uri();
    let shown = format!("{}:{}", p.host().unwrap_or("?"), p.port_u16().unwrap_or(80));
    let fail = |reason: String| DialError::Proxy { proxy: shown.clone(), reason };
    if p.scheme_str() != Some("http") {
        return Err(fail(format!("only http:// proxies can tunnel the agent socket, not {}://", p.scheme_str().unwrap_or("?"))));
    }
    let mut tcp = TcpStream::connect(shown.as_str()).await.map_err(|e| fail(e.to_string()))?;
    let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.basic_auth().and_then(|v| v.to_str().ok()) {
        head.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.map_err(|e| fail(e.to_string()))?;
    // Byte by byte: nothing after the reply head may be consumed, it belongs to the tunnel.
    let mut reply = Vec::new();
    while !reply.ends_with(b"\r\n\r\n") {
        if reply.len() >= MAX_PROXY_HEAD {
            return Err(fail("reply head too long".into()));
        }
        let b = tcp.read_u8().await.map_err(|e| fail(format!("closed before answering CONNECT: {e}")))?;
        reply.push(b);
    }
    let status = String::from_utf8_lossy(&reply).lines().next().unwrap_or_default().to_string();
    match status.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(tcp),
        _ => Err(fail(format!("CONNECT {target} refused: {status}"))),
    }
}
