//! SQLite persistence: one writer thread with group commit (see [`writer`]), WAL checkpoints
//! on their own thread (see [`checkpoint`]) and a small pool of read connections used from
//! `spawn_blocking`.

mod checkpoint;
mod files;
mod inbox;
mod keys;
mod members;
mod push;
mod messages;
mod names;
mod reactions;
pub mod permissions;
mod schema;
mod todos;
mod workspaces;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use crate::hub::state::auth::Principal;
use tokio::sync::{mpsc, oneshot};

pub use messages::{
    Appended, Audience, ClientKey, HistoryQuery, HistoryRow, NewMessage, Placed, StoredMessage, page_limit, reader_scope,
};
pub use inbox::{Recipient, Waiting};
pub use members::MembershipChange;
pub use names::{ClaimOutcome, NameClaim};
pub use workspaces::{DEFAULT_NAME, NewInvite, TokenRole};
pub use writer::OnCommit;
use writer::{Job, Progress, Writer};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("cannot create the data folder {path}: {reason}")]
    Folder { path: PathBuf, reason: String },
    #[error("the store is shut down")]
    Closed,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
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
                c.pragma_update(None, "busy_timeout", 5000)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < READERS {
            idle.push(conn);
        }
        Ok(out?)
    }
}

impl Store {
    /// Opens (creating if needed) the database and starts the store's threads. Call it inside a
    /// Tokio runtime: the delivery task runs there.
    pub fn open(path: &Path, sync: &str, retention_max_rows: u64, inbox_max: u64) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Folder { path: dir.to_path_buf(), reason: e.to_string() })?;
        }
        let conn = Connection::open(path)?;
        schema::configure(&conn, sync)?;
        schema::migrate(&conn)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT_PAGES)?;
        let checkpoints = Connection::open(path)?;
        schema::configure(&checkpoints, sync)?;
        let thread_error = |e: std::io::Error| StoreError::Sqlite(format!("cannot start the store threads: {e}"));
        let nudge = checkpoint::spawn(checkpoints).map_err(thread_error)?;
        let (jobs, rx) = mpsc::channel(65_536);
        let progress = Arc::new(Progress::new());
        Writer::new(conn, nudge, progress.clone(), retention_max_rows, inbox_max)?.spawn(rx).map_err(thread_error)?;
        let readers = Arc::new(ReadPool {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            running: tokio::sync::Semaphore::new(READERS),
        });
        Ok(Store { jobs, readers, progress })
    }

    /// Queues a message; `done` runs in the delivery task after its commit, in commit order.
    /// Waits only when the writer's queue is full (back-pressure on the sender).
    pub async fn append(&self, msg: NewMessage, done: OnCommit) -> Result<(), StoreError> {
        self.jobs.send(Job::Append(msg, done)).await.map_err(|_| StoreError::Closed)
    }

    /// Commits a membership change with the next message batch; returns once it is durable.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Membership(change, tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a write on the writer connection, between message batches. Private to the store:
    /// the hub asks for operations by name, so a second backend can implement them.
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

    /// Forgets inbox rows whose mention reached its agent live. Never waits: called from the
    /// delivery task, which the writer itself may be waiting for.
    pub fn delivered(&self, ids: Vec<i64>) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.jobs.try_send(Job::Delivered(ids)) {
            let jobs = self.jobs.clone();
            tokio::spawn(async move { jobs.send(job).await });
        }
    }

    /// The mentions waiting for an agent (see [`Waiting`]). Every batch committed before the
    /// call is delivered first, and delivered marks are applied before the read, so a mention
    /// that reached the agent live is not among them.
    pub async fn inbox(&self, workspace: String, agent: String, max_age_days: u64) -> Result<Waiting, StoreError> {
        // Most registers find nothing: a read says so without breaking into the group commit. A
        // mention committed after this read reaches the (already registered) agent live.
        let (w, a) = (workspace.clone(), agent.clone());
        if !self.read(move |c| inbox::any(c, &w, &a)).await? {
            return Ok(Waiting::default());
        }
        self.progress.reads_delivered().await;
        let since = inbox::unix_now().saturating_sub((max_age_days * 86_400) as i64);
        self.write(move |c| inbox::waiting(c, &workspace, &agent, since)).await
    }

    /// Forgets the inbox rows `sent` to an agent, and its dropped count once `told`.
    pub async fn inbox_handed(&self, workspace: String, agent: String, sent: Vec<i64>, told: bool) -> Result<(), StoreError> {
        self.write(move |c| inbox::handed(c, &workspace, &agent, &sent, told)).await
    }

    /// Puts the stored messages named by `msg_ids` back into an agent's inbox (their frames
    /// never left a socket that was cut), bounded by `max` as new mentions are.
    pub async fn requeue_inbox(&self, who: Recipient, msg_ids: Vec<String>, max: u64) -> Result<(), StoreError> {
        self.write(move |c| inbox::requeue(c, &who, &msg_ids, max)).await
    }

    /// Drops mentions older than `max_age_days`; returns how many went.
    pub async fn expire_inbox(&self, max_age_days: u64) -> Result<usize, StoreError> {
        let before = inbox::unix_now().saturating_sub((max_age_days * 86_400) as i64);
        self.write(move |c| inbox::expire(c, before)).await
    }

    /// Runs a read on a pooled read-only connection off the async threads (private, as
    /// [`Store::write`]).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let _turn = self.readers.running.acquire().await.map_err(|_| StoreError::Closed)?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f)).await.map_err(|_| StoreError::Closed)?
    }

    /// A channel's rows; returns only once their live frames were queued to their recipients.
    pub async fn history(&self, q: HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.read(move |c| messages::history(c, &q)).await?;
        self.progress.reads_delivered().await;
        Ok(rows)
    }

    /// The newest rows of all channels that `reader` may see; returns as [`Store::history`] does.
    pub async fn recent(&self, reader: Principal, limit: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self.read(move |c| messages::recent(c, &reader, limit)).await?;
        self.progress.reads_delivered().await;
        Ok(rows)
    }

    /// Channels with rows `reader` may see.
    pub async fn channels(&self, reader: Principal) -> Result<Vec<String>, StoreError> {
        self.read(move |c| messages::channels(c, &reader)).await
    }

    /// A trivial read: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    pub async fn message_count(&self) -> Result<u64, StoreError> {
        self.read(messages::count).await
    }

    /// Clears the idempotency keys older than their lifetime, in bounded steps that each run
    /// between message batches; returns how many went.
    pub async fn purge_expired_keys(&self) -> Result<usize, StoreError> {
        let now = keys::unix_now();
        let Some((mut from, to)) = self.write(move |c| keys::mark(c, now)).await? else { return Ok(0) };
        let mut cleared = 0;
        while from < to {
            let (through, n) = self.write(move |c| keys::clear_step(c, from, to)).await?;
            from = through;
            cleared += n;
        }
        self.write(move |c| keys::forget_marks(c, to)).await?;
        Ok(cleared)
    }
}

/// The schema on a bare connection, for unit tests of modules that keep their own tables.
#[cfg(test)]
pub fn migrate_for_tests(c: &Connection) {
    schema::migrate(c).expect("the schema applies");
}
