//! One way to build outbound HTTP clients, on the TLS configuration of [`crate::tls`] (shared
//! with the agent socket). reqwest honours `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` itself.

use std::time::Duration;

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured((*crate::tls::client_config()).clone())
        .timeout(timeout)
        .build()
        .expect("an HTTP client on a rustls config always builds")
}
