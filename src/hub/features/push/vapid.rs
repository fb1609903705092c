//! VAPID keys: from SCITEX_OROCHI_VAPID_PUBLIC/PRIVATE when set, else `<data dir>/vapid-keys.json`
//! (mode 0600), created on first use. The private key is never printed or logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    #[error("SCITEX_OROCHI_VAPID_PRIVATE is not a base64url P-256 private key")]
    BadPrivate,
    #[error("SCITEX_OROCHI_VAPID_PUBLIC does not belong to SCITEX_OROCHI_VAPID_PRIVATE")]
    Mismatch,
    #[error("set both SCITEX_OROCHI_VAPID_PUBLIC and SCITEX_OROCHI_VAPID_PRIVATE, or neither")]
    Half,
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
}

pub struct VapidKeys {
    pub public_key: String,
    pub subject: String,
    pub pair: ES256KeyPair,
    /// Where the keys came from: a file path or "environment".
    pub source: String,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    public_key: String,
    private_key: String,
}

fn from_private(private_b64: &str) -> Result<(ES256KeyPair, String), VapidError> {
    let bytes = URL_SAFE_NO_PAD.decode(private_b64.trim()).map_err(|_| VapidError::BadPrivate)?;
    let pair = ES256KeyPair::from_bytes(&bytes).map_err(|_| VapidError::BadPrivate)?;
    let public = URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed());
    Ok((pair, public))
}

pub fn key_file(config: &Config) -> PathBuf {
    config.db.parent().map(Path::to_path_buf).unwrap_or_default().join("vapid-keys.json")
}

impl VapidKeys {
    /// The configured keys, or the key file's, or `None` when neither exists.
    pub fn load(config: &Config) -> Result<Option<VapidKeys>, VapidError> {
        let subject = config.vapid_subject.clone();
        match (config.vapid_public.is_empty(), config.vapid_private.is_empty()) {
            (false, false) => {
                let (pair, public_key) = from_private(&config.vapid_private)?;
                if public_key != config.vapid_public.trim() {
                    return Err(VapidError::Mismatch);
                }
                return Ok(Some(VapidKeys { public_key, subject, pair, source: "environment".into() }));
            }
            (true, true) => {}
            _ => return Err(VapidError::Half),
        }
        let path = key_file(config);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(VapidError::File { path, reason: e.to_string() }),
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| VapidError::File { path: path.clone(), reason: e.to_string() })?;
        let (pair, public_key) = from_private(&file.private_key).map_err(|_| VapidError::File { path: path.clone(), reason: "bad private_key".into() })?;
        Ok(Some(VapidKeys { public_key, subject, pair, source: path.display().to_string() }))
    }

    /// Generates a new pair and writes the key file (0600), replacing any existing one.
    pub fn generate(config: &Config) -> Result<VapidKeys, VapidError> {
        let path = key_file(config);
        let pair = ES256KeyPair::generate();
        let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed());
        let file = KeyFile { public_key: public_key.clone(), private_key: URL_SAFE_NO_PAD.encode(pair.to_bytes()) };
        let err = |e: std::io::Error| VapidError::File { path: path.clone(), reason: e.to_string() };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path).map_err(err)?;
        f.write_all(serde_json::to_string_pretty(&file).expect("serializes").as_bytes()).map_err(err)?;
        Ok(VapidKeys { public_key, subject: config.vapid_subject.clone(), pair, source: path.display().to_string() })
    }
}
