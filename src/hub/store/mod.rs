//! Persistence behind one interface. The hub asks for operations by name through the domain
//! traits of [`backend`] (messages, membership, inbox, keys, workspaces, names, reactions,
//! todos, push subscriptions, media, health records, permissions); [`Store`] is a cheap handle
//! on one implementation: [`sqlite`] (the embedded default) or [`postgres`] (a served database
//! that replicas share). Every backend keeps the same
//! guarantees: group commit with acks after the commit in commit order ([`delivery`]), a
//! per-channel `seq` assigned inside the commit transaction, each message's recorded audience,
//! idempotent resends, and reads that never run ahead of live delivery.
//!
//! A [`Store`] derefs to `dyn Backend`, whose methods (the domain traits' too) resolve without
//! importing the traits. This module and its children are the only place with SQL.

pub mod backend;
pub mod delivery;
pub mod domain;
mod error;
pub mod keys;
pub mod message;
pub mod migrate;
pub mod peers;
pub mod permissions;
pub mod presence;
pub mod probe;
mod postgres;
pub mod records;
mod sqlite;

use std::ops::Deref;
use std::sync::Arc;

pub use backend::Backend;
pub use delivery::OnCommit;
pub use error::StoreError;
pub use message::{
    Appended, Audience, ClientKey, HistoryQuery, HistoryRow, MembershipChange, NewMessage, Placed, Recipient, StoredMessage,
    Waiting, page_limit, reader_scope,
};
pub use records::{ClaimOutcome, DEFAULT_NAME, NameClaim, NewInvite, TokenRole};

use crate::config::DbLocation;

/// Handle to the database; cheap to clone. Derefs to the [`Backend`], so callers call its
/// operations directly: `store.history(q)`.
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl Store {
    /// Opens the database at `location` (creating a SQLite file, or connecting to PostgreSQL),
    /// brings its schema up to date and starts the writer. Call it inside a Tokio runtime: the
    /// delivery task runs there. `sync` is SQLite's synchronous mode (PostgreSQL commits
    /// durably as its server is configured).
    pub async fn open(location: &DbLocation, sync: &str, retention_max_rows: u64, inbox_max: u64) -> Result<Store, StoreError> {
        Ok(match location {
            DbLocation::File(path) => Store(Arc::new(sqlite::SqliteStore::open(path, sync, retention_max_rows, inbox_max)?)),
            DbLocation::Postgres(url) => Store(Arc::new(postgres::PgStore::open(url.expose(), retention_max_rows, inbox_max).await?)),
        })
    }

    /// Clears the idempotency keys older than their lifetime, in bounded steps that each run
    /// between message batches; returns how many went.
    pub async fn purge_expired_keys(&self) -> Result<usize, StoreError> {
        let now = keys::unix_now();
        let Some((mut from, to)) = self.mark_keys(now).await? else { return Ok(0) };
        let mut cleared = 0;
        while from < to {
            let (through, n) = self.clear_keys(from, to).await?;
            from = through;
            cleared += n;
        }
        self.forget_key_marks(to).await?;
        Ok(cleared)
    }
}
