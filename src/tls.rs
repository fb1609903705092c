//! The one TLS client configuration. Every outbound `wss://` and `https://` (agent socket, REST,
//! MCP bridge, load generator, deploy checks) trusts the system store, honouring `SSL_CERT_FILE`
//! and `SSL_CERT_DIR`, plus the bundled Mozilla roots, so the binary also works in a
//! FROM-scratch image that has no CA bundle. The crypto provider is aws-lc-rs, the one reqwest
//! already builds with; it is named here because the tree also links ring (through cloudflare),
//! and with two providers rustls picks no default.

use std::error::Error;
use std::sync::{Arc, OnceLock};

/// Built once per process: reading the system store is file I/O.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG.get_or_init(|| Arc::new(build())).clone()
}

fn build() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots())
        .with_no_client_auth()
}

fn roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for e in &system.errors {
        tracing::warn!(error = %e, "cannot read system CA certificates");
    }
    let (system_added, _) = roots.add_parsable_certificates(system.certs);
    let (bundled, _) = roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    tracing::debug!(system = system_added, bundled, "TLS roots loaded");
    roots
}

/// A TLS handshake that failed: which host, and what was wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS with {host} failed: {reason}")]
pub struct TlsFailure {
    pub host: String,
    pub reason: String,
}

impl TlsFailure {
    /// The rustls error somewhere in `err`'s chain, described.
    pub fn find(host: &str, err: &(dyn Error + 'static)) -> Option<TlsFailure> {
        let mut cur = Some(err);
        while let Some(e) = cur {
            if let Some(r) = e.downcast_ref::<rustls::Error>() {
                return Some(TlsFailure { host: host.to_string(), reason: describe(r) });
            }
            // An I/O error's `source` skips the error it wraps, which is where TLS libraries
            // put theirs (sometimes inside another I/O error).
            cur = match e.downcast_ref::<std::io::Error>() {
                Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
                None => e.source(),
            };
        }
        None
    }
}

const TRUSTED: &str = "trusted are the system store (SSL_CERT_FILE, SSL_CERT_DIR) and the bundled Mozilla roots";

fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!("its certificate is signed by an unknown CA ({TRUSTED})"),
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "its certificate does not name this host".into()
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "its certificate has expired".into(),
        rustls::Error::InvalidCertificate(c) => format!("its certificate was refused: {c:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_certificate_error_inside_nested_io_errors() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let outer = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, cert));
        let f = TlsFailure::find("hub.example.org", &outer).expect("found");
        assert!(f.to_string().starts_with("TLS with hub.example.org failed: its certificate is signed by an unknown CA"), "{f}");
        assert!(TlsFailure::find("h", &std::io::Error::other("connection refused")).is_none());
    }

    #[test]
    fn the_bundled_roots_are_always_there() {
        // Whatever the system store holds (nothing in a FROM-scratch image).
        assert!(roots().len() >= webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 9 / 10);
        assert!(Arc::ptr_eq(&client_config(), &client_config()), "built once");
    }
}
