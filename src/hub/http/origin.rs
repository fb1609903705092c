//! Which browser origins may open the observer socket. Browsers do not apply CORS to
//! WebSockets, so the hub checks `Origin` itself against the CORS list plus its own origin
//! (the `Host` the request came to, as forwarded by a TLS edge). A request without `Origin`
//! is not from a browser page and is judged by its token alone.

use axum::http::{HeaderMap, header};

/// Whether a request with these headers may upgrade to the observer socket.
pub fn admitted(cors_origins: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim_end_matches('/');
    if cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let Some((name, port)) = authority(origin) else { return false };
    // An edge that forwards only the host name (nginx's `$host`) drops the port.
    match host.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()) {
        Some((h, p)) => h.eq_ignore_ascii_case(&name) && port.is_some_and(|port| port.to_string() == p),
        None => host.eq_ignore_ascii_case(&name),
    }
}

/// Host name and explicit port of an `http(s)://host[:port]` origin (a default port is not
/// written, as in a `Host` header).
fn authority(origin: &str) -> Option<(String, Option<u16>)> {
    let u = url::Url::parse(origin).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    Some((u.host_str()?.to_string(), u.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn own_origin_listed_origins_and_non_browsers_are_admitted() {
        let list = vec!["https://orochi-dev.example.org".to_string()];
        assert!(admitted(&list, &headers(None, "orochi.example.org")));
        assert!(admitted(&list, &headers(Some("https://orochi.example.org"), "orochi.example.org")));
        assert!(admitted(&list, &headers(Some("http://127.0.0.1:8559"), "127.0.0.1:8559")));
        assert!(admitted(&list, &headers(Some("https://orochi-dev.example.org"), "orochi.example.org")));
        // Behind an edge that forwards the host name without its port.
        assert!(admitted(&list, &headers(Some("https://localhost:8443"), "localhost")));
    }

    #[test]
    fn foreign_origins_are_refused() {
        let list = vec!["https://orochi-dev.example.org".to_string()];
        for foreign in ["https://evil.example.org", "http://127.0.0.1:8560", "null", "https://orochi-dev.example.org.evil", "file://x"] {
            assert!(!admitted(&list, &headers(Some(foreign), "127.0.0.1:8559")), "{foreign}");
        }
        assert!(!admitted(&[], &headers(Some("https://orochi.example.org:444"), "orochi.example.org:443")));
        assert!(!admitted(&[], &headers(Some("https://orochi.example.org"), "orochi.example.org:8559")));
        assert!(!admitted(&[], &headers(Some("https://evil.example.org"), "orochi.example.org")));
    }
}
