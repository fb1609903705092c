//! Who a token belongs to. The admin token is compared in constant time; workspace tokens are
//! stored as SHA-256 hashes, so the database never holds a usable token.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

pub use crate::hub::store::domain::Principal;
pub use crate::hub::store::records::hash_token;
use crate::hub::store::{Store, StoreError};


/// The first `token` query value, decoded.
pub fn token_from_query(query: Option<&str>) -> String {
    query
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token"))
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The token of a request: `Authorization: Bearer`, else `?token=` (the published Python client
/// and browsers' WebSockets can only use the query).
pub fn presented_token(headers: &axum::http::HeaderMap, query: Option<&str>) -> String {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match bearer {
        Some(t) => t.to_string(),
        None => token_from_query(query),
    }
}


/// A new random secret of 32 bytes, URL-safe base64.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn admin_matches(admin: &str, presented: &str) -> bool {
    !presented.is_empty() && bool::from(admin.as_bytes().ct_eq(presented.as_bytes()))
}

/// Admin token, then workspace token.
pub async fn verify(store: &Store, admin: &str, token: &str) -> Result<Option<Principal>, StoreError> {
    if token.is_empty() {
        return Ok(None);
    }
    if admin_matches(admin, token) {
        return Ok(Some(Principal::Admin));
    }
    if !token.starts_with("wks_") {
        return Ok(None);
    }
    let hash = hash_token(token);
    Ok(store.token_workspace(hash).await?.map(Principal::Workspace))
}

/// The admin token: the configured one, else the token file beside the database, else a new
/// one written there with mode 0600. The token itself is never logged.
pub fn resolve_admin_token(configured: &str, data_dir: &Path) -> std::io::Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = data_dir.join(".admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let t = existing.trim();
        if !t.is_empty() {
            return Ok(t.to_string());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let token = random_secret();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(&path)?.write_all(token.as_bytes())?;
    tracing::info!(path = %path.display(), "generated an admin token (read it from this file)");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_compare() {
        assert!(admin_matches("abc", "abc"));
        assert!(!admin_matches("abc", "abd"));
        assert!(!admin_matches("abc", ""));
        assert!(!admin_matches("", ""));
    }

    #[test]
    fn token_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = resolve_admin_token("", dir.path()).unwrap();
        let b = resolve_admin_token("", dir.path()).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(".admin-token")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(resolve_admin_token("given", dir.path()).unwrap(), "given");
    }
}
