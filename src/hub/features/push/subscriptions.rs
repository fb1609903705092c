//! Stored browser subscriptions: who they notify (`owner`, the name people @mention), which
//! channels they opted into, and the workspace whose token subscribed (only it and the admin
//! see or change the subscription).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::hub::store::domain::Subscription;



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
