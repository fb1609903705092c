//! One way to build outbound HTTP clients. TLS roots are the compiled-in Mozilla set, so the
//! binary works in a FROM-scratch image that has no CA bundle.

use std::time::Duration;

pub fn client(timeout: Duration) -> reqwest::Client {
    let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok());
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .timeout(timeout)
        .build()
        .expect("an HTTP client with bundled roots always builds")
}
