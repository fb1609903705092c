//! SQLite persistence: one writer thread with group commit (see [`writer`]), WAL checkpoints
//! on their own thread (see [`checkpoint`]) and a small pool of read connections used from
//! `spawn_blocking`. One file per domain implements that domain's trait.

mod checkpoint;
mod files;
mod inbox;
mod keys;
mod members;
mod messages;
mod names;
mod permissions;
mod presence;
mod push;
mod reactions;
pub(super) mod schema;
mod todos;
mod workspaces;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use super::backend::{Backend, IdempotencyKeys, Inbox, Messages, Peers};
use super::peers::{PeerNote, Sink};
use super::delivery::{OnCommit, Progress};
use super::message::{HistoryQuery, HistoryRow, MembershipChange, NewMessage, Recipient, Waiting, inbox_since};
use super::delivery;
use super::error::StoreError;
use crate::hub::store::domain::Principal;
use writer::{Job, Writer};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::database(e)
    }
}

/// The SQLite store. Writes go to the writer thread, reads to the pool.
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    readers: Arc<ReadPool>,
    progress: Arc<Progress>,
}

/// Reads running at once, each on its own connection. More would only take turns on the cores,
/// and a burst (a whole fleet resuming after a restart) would open and close a connection,
/// with its schema parse and statement cache, for nearly every read.
const READERS: usize = 8;

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    running: tokio::sync::Semaphore,
}

impl ReadPool {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = self.idle.lock().expect("pool lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
                schema::configure_reader(&c)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("pool lock");
        // The read threads' connections and those of inline lookups on the async workers.
        if idle.len() < 2 * READERS {
            idle.push(conn);
        }
        Ok(out?)
    }
}

impl SqliteStore {
    /// Queues a membership change for the next batch's transaction; returns once it committed.
    async fn queue_membership(&self, change: MembershipChange) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Membership(change, tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Opens (creating if needed) the database and starts the store's threads. Call it inside a
    /// Tokio runtime: the delivery task runs there.
    pub fn open(path: &Path, sync: &str, retention_max_rows: u64, inbox_max: u64) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Folder { path: dir.to_path_buf(), source: Arc::new(e) })?;
        }
        let conn = Connection::open(path)?;
        schema::configure(&conn, sync)?;
        schema::migrate(&conn)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT_PAGES)?;
        let checkpoints = Connection::open(path)?;
        schema::configure(&checkpoints, sync)?;
        let thread_error = |e: std::io::Error| StoreError::Threads(Arc::new(e));
        let nudge = checkpoint::spawn(checkpoints).map_err(thread_error)?;
        let (jobs, rx) = mpsc::channel(65_536);
        let (committed, progress) = delivery::spawn(None);
        Writer::new(conn, nudge, progress.clone(), retention_max_rows, inbox_max)?.spawn(rx, committed).map_err(thread_error)?;
        let readers = Arc::new(ReadPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            running: tokio::sync::Semaphore::new(READERS),
        });
        Ok(SqliteStore { jobs, readers, progress })
    }

    /// Runs a write on the writer connection, between message batches.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job = Job::Exec(Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(StoreError::from));
        }));
        self.jobs.send(job).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a point read (an index step or two: microseconds) on a pooled connection right here.
    /// The hop to a blocking thread costs more than such a read, and a restarted fleet makes two
    /// of them per register: queued behind each other on the read threads, they were most of
    /// the time 10,000 agents took to register again.
    fn lookup<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        self.readers.with(f)
    }

    /// Runs a read on a pooled read-only connection off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _turn = self.readers.running.acquire().await.map_err(|_| StoreError::Closed)?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f)).await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    /// `.admin-token` and `vapid-keys.json` stay beside the database file, where existing
    /// installations have them.
    async fn kept_secret(&self, _name: &str, _generated: String) -> Result<Option<String>, StoreError> {
        Ok(None)
    }
}

/// One hub process owns a SQLite file (replicas on one file are for tests only): no peers.
#[async_trait]
impl Peers for SqliteStore {
    fn shared(&self) -> bool {
        false
    }

    fn replica(&self) -> &str {
        ""
    }

    fn follow_peers(&self, _sink: Sink) {}

    async fn tell_peers(&self, _note: PeerNote) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Messages for SqliteStore {
    async fn append(&self, msg: NewMessage, done: OnCommit) -> Result<(), StoreError> {
        self.jobs.send(Job::Append(msg, done)).await.map_err(|_| StoreError::Closed)
    }

    async fn history(&self, q: HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.read(move |c| messages::history(c, &q)).await?;
        self.progress.reads_delivered().await;
        Ok(rows)
    }

    async fn recent(&self, reader: Principal, limit: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.read(move |c| messages::recent(c, &reader, limit)).await?;
        self.progress.reads_delivered().await;
        Ok(rows)
    }

    async fn channels(&self, reader: Principal) -> Result<Vec<String>, StoreError> {
        self.read(move |c| messages::channels(c, &reader)).await
    }

    async fn message_count(&self) -> Result<u64, StoreError> {
        self.read(messages::count).await
    }
}

#[async_trait]
impl Inbox for SqliteStore {
    fn delivered(&self, ids: Vec<i64>) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.jobs.try_send(Job::Delivered(ids)) {
            let jobs = self.jobs.clone();
            tokio::spawn(async move { jobs.send(job).await });
        }
    }

    async fn inbox(&self, workspace: String, agent: String, max_age_days: u64) -> Result<Waiting, StoreError> {
        // Most registers find nothing: a read says so without breaking into the group commit. A
        // mention committed after this read reaches the (already registered) agent live.
        if !self.lookup(|c| inbox::any(c, &workspace, &agent))? {
            return Ok(Waiting::default());
        }
        self.progress.reads_delivered().await;
        let since = inbox_since(max_age_days);
        self.write(move |c| inbox::waiting(c, &workspace, &agent, since)).await
    }

    async fn inbox_handed(&self, workspace: String, agent: String, sent: Vec<i64>, told: bool) -> Result<(), StoreError> {
        self.write(move |c| inbox::handed(c, &workspace, &agent, &sent, told)).await
    }

    async fn requeue_inbox(&self, who: Recipient, msg_ids: Vec<String>, max: u64) -> Result<(), StoreError> {
        self.write(move |c| inbox::requeue(c, &who, &msg_ids, max)).await
    }

    async fn expire_inbox(&self, max_age_days: u64) -> Result<usize, StoreError> {
        let before = inbox_since(max_age_days);
        self.write(move |c| inbox::expire(c, before)).await
    }
}

#[async_trait]
impl IdempotencyKeys for SqliteStore {
    async fn mark_keys(&self, now: i64) -> Result<Option<(i64, i64)>, StoreError> {
        self.write(move |c| keys::mark(c, now)).await
    }

    async fn clear_keys(&self, from: i64, to: i64) -> Result<(i64, usize), StoreError> {
        self.write(move |c| keys::clear_step(c, from, to)).await
    }

    async fn forget_key_marks(&self, to: i64) -> Result<(), StoreError> {
        self.write(move |c| keys::forget_marks(c, to)).await.map(drop)
    }
}

/// The schema on a bare connection, for unit tests of modules that keep their own tables.
#[cfg(test)]
fn migrate_for_tests(c: &Connection) {
    schema::migrate(c).expect("the schema applies");
}
