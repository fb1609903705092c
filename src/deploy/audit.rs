//! The audit log: one JSON object per line in `<state_dir>/audit.jsonl`, appended after every
//! deploy or rollback, whatever its result. Values are safe to share: hashes, never secrets.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// RFC 3339 UTC.
    pub ts: String,
    /// `user@host` that ran the command.
    pub who: String,
    /// deploy, rollback
    pub action: String,
    pub instance: String,
    pub image: String,
    #[serde(default)]
    pub previous_image: String,
    pub env_hash: String,
    /// ok, in-sync, failed, restored (failed, previous container serving again)
    pub result: String,
    pub duration_ms: u64,
    #[serde(default)]
    pub gap_ms: Option<u64>,
    #[serde(default)]
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("audit.jsonl")
}

/// `user@host` from USER/LOGNAME and the host name.
pub fn who() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("{user}@{}", crate::machine::hostname())
}

pub fn append(state_dir: &Path, record: &AuditRecord) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path(state_dir))?;
    f.write_all(line.as_bytes())
}

/// Every readable record, oldest first (a missing log is empty).
pub fn read(state_dir: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(path(state_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
