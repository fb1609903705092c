//! One deploy at a time per instance: an exclusive lock on `<state_dir>/<instance>.lock`,
//! released when the process ends, however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another deploy of {instance} is running ({holder}); lock file {path}")]
    Held { instance: String, holder: String, path: PathBuf },
    #[error("cannot open the lock file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Held until dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

impl InstanceLock {
    pub fn acquire(state_dir: &Path, instance: &str) -> Result<InstanceLock, LockError> {
        let path = state_dir.join(format!("{instance}.lock"));
        let io = |source| LockError::Io { path: path.clone(), source };
        std::fs::create_dir_all(state_dir).map_err(io)?;
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = if holder.trim().is_empty() { "unknown holder".into() } else { holder.trim().to_string() };
                return Err(LockError::Held { instance: instance.into(), holder, path });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "pid {} of {}", std::process::id(), super::audit::who());
        Ok(InstanceLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn second_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::InstanceLock::acquire(dir.path(), "stable").unwrap();
        let err = super::InstanceLock::acquire(dir.path(), "stable").unwrap_err().to_string();
        assert!(err.contains("another deploy of stable"), "{err}");
        drop(first);
        super::InstanceLock::acquire(dir.path(), "stable").unwrap();
    }
}
