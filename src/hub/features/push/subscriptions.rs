//! Stored browser subscriptions: who they notify (`owner`, the name people @mention), which
//! channels they opted into, and the workspace whose token subscribed (only it and the admin
//! see or change the subscription).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};


#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub owner: String,
    pub channels: Vec<String>,
    pub user_agent: String,
    pub created_at: String,
    pub workspace_id: String,
    /// Hash of the workspace token that subscribed (empty for the admin token): an approver
    /// token's browsers hear permission requests while the token lives.
    #[serde(skip)]
    pub token_hash: String,
}

impl Subscription {
    /// The push service's host, for logs (the endpoint path is a capability).
    pub fn host(&self) -> String {
        url::Url::parse(&self.endpoint).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("endpoint must be an http(s) URL")]
    Endpoint,
    #[error("keys.p256dh must be a base64url P-256 public key")]
    P256dh,
    #[error("keys.auth must be 16 bytes of base64url")]
    Auth,
}

/// Checks the browser-supplied fields before anything is stored.
pub fn check(endpoint: &str, p256dh: &str, auth: &str) -> Result<(), SubscriptionError> {
    let ok_url = url::Url::parse(endpoint).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !ok_url || endpoint.len() > 2048 {
        return Err(SubscriptionError::Endpoint);
    }
    let key = URL_SAFE_NO_PAD.decode(p256dh.trim_end_matches('=')).map_err(|_| SubscriptionError::P256dh)?;
    web_push_native::p256::PublicKey::from_sec1_bytes(&key).map_err(|_| SubscriptionError::P256dh)?;
    let a = URL_SAFE_NO_PAD.decode(auth.trim_end_matches('=')).map_err(|_| SubscriptionError::Auth)?;
    if a.len() != 16 {
        return Err(SubscriptionError::Auth);
    }
    Ok(())
}
