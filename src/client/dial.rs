//! Opening a WebSocket to the hub: straight to it, or through an HTTP proxy with `CONNECT`
//! (`HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, either unless `NO_PROXY` names the
//! host, as reqwest does for REST); then TLS with the one shared configuration.

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
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
    let uri = request.uri();
    let host = uri.host().ok_or_else(|| DialError::Other("the URL names no host".into()))?.trim_matches(['[', ']']).to_string();
    let tls = uri.scheme_str() == Some("wss");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = match proxy_for(&host, tls) {
        Some(proxy) => through_proxy(&proxy, &host, port).await?,
        None => TcpStream::connect((host.as_str(), port)).await.map_err(|e| DialError::Other(e.to_string()))?,
    };
    let _ = tcp.set_nodelay(true);
    let connector = Connector::Rustls(crate::tls::client_config());
    client_async_tls_with_config(request, tcp, config, Some(connector)).await.map_err(|e| match TlsFailure::find(&host, &e) {
        Some(t) => DialError::Tls(t),
        None => DialError::Other(e.to_string()),
    })
}

fn env(names: [&str; 2]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok()).filter(|v| !v.trim().is_empty())
}

/// The proxy for `host`, from the environment.
fn proxy_for(host: &str, tls: bool) -> Option<url::Url> {
    let proxy = if tls { env(["HTTPS_PROXY", "https_proxy"]) } else { env(["HTTP_PROXY", "http_proxy"]) }?;
    if env(["NO_PROXY", "no_proxy"]).is_some_and(|list| bypassed(host, &list)) {
        return None;
    }
    url::Url::parse(&proxy).or_else(|_| url::Url::parse(&format!("http://{proxy}"))).ok()
}

/// `NO_PROXY` entries: `*`, an exact host or IP, or a domain (`example.org` and `.example.org`
/// both cover its subdomains).
fn bypassed(host: &str, list: &str) -> bool {
    list.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        let domain = entry.trim_start_matches('.');
        entry == "*" || host.eq_ignore_ascii_case(domain) || host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase()))
    })
}

/// A tunnel to `host:port` through an `http://` proxy.
async fn through_proxy(proxy: &url::Url, host: &str, port: u16) -> Result<TcpStream, DialError> {
    let shown = format!("{}:{}", proxy.host_str().unwrap_or("?"), proxy.port_or_known_default().unwrap_or(80));
    let fail = |reason: String| DialError::Proxy { proxy: shown.clone(), reason };
    if proxy.scheme() != "http" {
        return Err(fail(format!("only http:// proxies are supported, not {}://", proxy.scheme())));
    }
    let mut tcp = TcpStream::connect(shown.as_str()).await.map_err(|e| fail(e.to_string()))?;
    let target = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if !proxy.username().is_empty() {
        let user = urlencoding_decode(proxy.username());
        let pass = urlencoding_decode(proxy.password().unwrap_or(""));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        head.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
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

/// Percent-decodes URL user info (`+` stays itself).
fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::bypassed;

    #[test]
    fn no_proxy_matches_hosts_and_domains() {
        assert!(bypassed("localhost", "localhost,127.0.0.1"));
        assert!(bypassed("ws.orochi.scitex.ai", ".scitex.ai"));
        assert!(bypassed("orochi.scitex.ai", "scitex.ai"));
        assert!(bypassed("anything", "*"));
        assert!(!bypassed("evilscitex.ai", "scitex.ai"));
        assert!(!bypassed("orochi.scitex.ai", ""));
    }
}
