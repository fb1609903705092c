//! What a failed store operation says, whichever backend ran it.

use std::path::PathBuf;
use std::sync::Arc;

/// A failed store operation. The texts name what failed without any secret (a database URL's
/// password never appears).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[source] Arc<dyn std::error::Error + Send + Sync>),
    #[error("cannot create the data folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The text is not shown: a database URL may hold a password.
    #[error("SCITEX_OROCHI_DB is not a valid PostgreSQL URL")]
    BadUrl,
    #[error("the database's schema version {found} is newer than this build knows ({known}): run a newer scitex-orochi")]
    NewerSchema { found: i64, known: i64 },
    #[error("cannot start the store threads: {0}")]
    Threads(#[source] Arc<std::io::Error>),
    #[error("the store is shut down")]
    Closed,
}

impl StoreError {
    pub fn database(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Database(Arc::new(e))
    }
}
