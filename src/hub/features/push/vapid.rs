//! VAPID keys: from SCITEX_OROCHI_VAPID_PUBLIC/PRIVATE when set, else `<data dir>/vapid-keys.json`
//! (mode 0600), created on first use; with a PostgreSQL store, the same JSON kept in the
//! database (see `hub::push_keys`). The private key is never printed or logged.

use std::io::Write;
use std::path::PathBuf;

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
    #[error("the push keys kept in the database are not valid")]
    Stored,
    #[error("with a PostgreSQL SCITEX_OROCHI_DB the hub keeps its push keys in the database, not in a file (set SCITEX_OROCHI_VAPID_* to choose them)")]
    NoKeyFile,
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

impl KeyFile {
    /// A new pair, as stored and as used.
    fn new() -> (KeyFile, ES256KeyPair) {
        let pair = ES256KeyPair::generate();
        let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed());
        (KeyFile { public_key, private_key: URL_SAFE_NO_PAD.encode(pair.to_bytes()) }, pair)
    }
}

fn from_private(private_b64: &str) -> Result<(ES256KeyPair, String), VapidError> {
    let bytes = URL_SAFE_NO_PAD.decode(private_b64.trim()).map_err(|_| VapidError::BadPrivate)?;
    let pair = ES256KeyPair::from_bytes(&bytes).map_err(|_| VapidError::BadPrivate)?;
    let public = URL_SAFE_NO_PAD.encode(pair.public_key().public_key().to_bytes_uncompressed());
    Ok((pair, public))
}

/// Where a SQLite hub keeps its generated keys; `None` with PostgreSQL (the database keeps them).
pub fn key_file(config: &Config) -> Option<PathBuf> {
    config.db.data_dir().map(|d| d.join("vapid-keys.json"))
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
        let Some(path) = key_file(config) else { return Ok(None) };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(VapidError::File { path, reason: e.to_string() }),
        };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| VapidError::File { path: path.clone(), reason: e.to_string() })?;
        let (pair, public_key) = from_private(&file.private_key).map_err(|_| VapidError::File { path: path.clone(), reason: "bad private_key".into() })?;
        Ok(Some(VapidKeys { public_key, subject, pair, source: path.display().to_string() }))
    }

    /// A new pair as the key file's JSON: what a PostgreSQL store keeps.
    pub fn new_key_json() -> String {
        serde_json::to_string_pretty(&KeyFile::new().0).expect("serializes")
    }

    /// The keys of a key file's JSON kept in the database.
    pub fn from_key_json(text: &str, config: &Config) -> Result<VapidKeys, VapidError> {
        let file: KeyFile = serde_json::from_str(text).map_err(|_| VapidError::Stored)?;
        let (pair, public_key) = from_private(&file.private_key).map_err(|_| VapidError::Stored)?;
        Ok(VapidKeys { public_key, subject: config.vapid_subject.clone(), pair, source: "the database".into() })
    }

    /// Generates a new pair and writes the key file (0600), replacing any existing one.
    pub fn generate(config: &Config) -> Result<VapidKeys, VapidError> {
        let path = key_file(config).ok_or(VapidError::NoKeyFile)?;
        let (file, pair) = KeyFile::new();
        let public_key = file.public_key.clone();
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
