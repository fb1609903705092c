//! The single writer thread. It owns the one write connection, drains whatever arrived,
//! inserts the messages in one transaction (group commit) and hands the committed batch to the
//! delivery task, which calls each message's continuation in commit order. The writer is
//! already inserting the next batch while the last one is delivered. Membership changes join
//! the transaction of the batch they arrive with; other writes run as closures between batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use super::StoreError;
use super::checkpoint::Nudge;
use super::inbox;
use super::keys;
use super::members::MembershipChange;
use super::messages::{self, Appended, NewMessage, StoredMessage};

/// Called in the delivery task after the message's transaction committed (or failed).
pub type OnCommit = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

// Appends are the hot path: boxing the message would cost an allocation for each one.
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Append(NewMessage, OnCommit),
    /// Inbox rows whose mention reached its agent live: deleted in the next batch's transaction.
    Delivered(Vec<i64>),
    /// Answered from the writer thread once the batch's transaction committed (or failed).
    Membership(MembershipChange, oneshot::Sender<Result<(), StoreError>>),
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Most jobs taken into one transaction.
const MAX_BATCH: usize = 4096;

/// Committed batches waiting for delivery; when full, the writer waits (back-pressure).
const DELIVERY_QUEUE: usize = 16;

type Outcome = (Result<Appended, StoreError>, OnCommit);

type Member = (MembershipChange, oneshot::Sender<Result<(), StoreError>>);

/// How far the batches have come, so a read never shows a message before its live frame was
/// queued to its recipients: a client that learns a channel's head from history and then drops
/// live frames at or below it would otherwise lose the message committed in between.
pub struct Progress {
    /// Number of the last batch whose commit began; set before the commit.
    committing: AtomicU64,
    /// Number of the last batch whose continuations all ran.
    delivered: watch::Sender<u64>,
}

impl Progress {
    pub fn new() -> Self {
        Progress { committing: AtomicU64::new(0), delivered: watch::Sender::new(0) }
    }

    /// Waits until every batch whose rows a read just made could have seen is delivered.
    /// Call after the read.
    pub async fn reads_delivered(&self) {
        let target = self.committing.load(Ordering::Acquire);
        // Err only when the delivery task is gone: nothing left to wait for.
        let _ = self.delivered.subscribe().wait_for(|d| *d >= target).await;
    }
}

pub(super) struct Writer {
    conn: Connection,
    checkpoint: Nudge,
    progress: Arc<Progress>,
    batches: u64,
    retention_max_rows: u64,
    rows: u64,
    inbox_max: u64,
    /// Delivered inbox rows not yet deleted.
    delivered: Vec<i64>,
}

impl Writer {
    pub(super) fn new(
        conn: Connection,
        checkpoint: Nudge,
        progress: Arc<Progress>,
        retention_max_rows: u64,
        inbox_max: u64,
    ) -> Result<Self, StoreError> {
        let rows = messages::count(&conn)?;
        Ok(Writer { conn, checkpoint, progress, batches: 0, retention_max_rows, rows, inbox_max, delivered: Vec::new() })
    }

    /// Starts the writer thread and the delivery task; both end when every job sender is gone.
    /// Delivery runs on the runtime: the sockets it wakes land in a worker's own run queue,
    /// where waking them from a foreign thread would take a lock and a futex call each.
    pub(super) fn spawn(self, rx: mpsc::Receiver<Job>) -> std::io::Result<()> {
        let (committed, mut deliveries) = mpsc::channel::<(u64, Vec<Outcome>)>(DELIVERY_QUEUE);
        let progress = self.progress.clone();
        tokio::spawn(async move {
            while let Some((number, batch)) = deliveries.recv().await {
                for (result, done) in batch {
                    done(result);
                    // A large batch gives the worker back now and then, so sockets are served.
                    tokio::task::consume_budget().await;
                }
                progress.delivered.send_replace(number);
            }
        });
        std::thread::Builder::new().name("orochi-store-writer".into()).spawn(move || self.run(rx, committed))?;
        Ok(())
    }

    fn run(mut self, mut rx: mpsc::Receiver<Job>, committed: mpsc::Sender<(u64, Vec<Outcome>)>) {
        let mut batch: Vec<(NewMessage, OnCommit)> = Vec::with_capacity(MAX_BATCH);
        let mut members: Vec<Member> = Vec::new();
        // A batch of membership changes alone is delivered too (empty), so `Progress` moves on.
        let deliver = |outcomes: Option<(u64, Vec<Outcome>)>| {
            if let Some(outcomes) = outcomes {
                let _ = committed.blocking_send(outcomes);
            }
        };
        while let Some(job) = rx.blocking_recv() {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                match job {
                    Job::Append(msg, done) => batch.push((msg, done)),
                    Job::Delivered(ids) => self.delivered.extend(ids),
                    Job::Membership(change, done) => members.push((change, done)),
                    Job::Exec(f) => {
                        deliver(self.commit(&mut batch, &mut members));
                        // A write (an agent taking its inbox) sees every delivered mention gone.
                        self.forget_delivered();
                        f(&mut self.conn);
                    }
                }
                if batch.len() + members.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            deliver(self.commit(&mut batch, &mut members));
        }
        tracing::debug!("store writer stopped");
    }

    /// Inserts and commits the batch with the membership changes, answers the changes, and
    /// returns the batch's number and each message's outcome in commit order (None when there
    /// was nothing to commit).
    fn commit(&mut self, batch: &mut Vec<(NewMessage, OnCommit)>, members: &mut Vec<Member>) -> Option<(u64, Vec<Outcome>)> {
        if batch.is_empty() && members.is_empty() {
            return None;
        }
        self.batches += 1;
        let number = self.batches;
        let mut assigned: HashMap<&str, u64> = HashMap::new();
        // Per message: its new seq, or the place of the copy its key already names.
        let mut placed = Vec::with_capacity(batch.len());
        let mut inbox_ids: Vec<Vec<i64>> = Vec::new();
        let delivered = std::mem::take(&mut self.delivered);
        let inbox_max = self.inbox_max;
        // IMMEDIATE takes the write lock first, so reading each channel's head inside the
        // transaction stays right even when another hub process (dev beside stable) writes too.
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (change, _) in members.iter() {
                change.apply(&tx)?;
            }
            for (msg, _) in batch.iter() {
                let head = match assigned.get(msg.channel.as_str()) {
                    Some(s) => *s,
                    None => messages::head_seq(&tx, &msg.channel)?,
                };
                let next = head + 1;
                if !messages::insert(&tx, msg, next)? {
                    // Its key is held: a resend. The first copy's place, not a second row.
                    let first = keys::holder(&tx, msg)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
                    placed.push(Err(first));
                    continue;
                }
                assigned.insert(&msg.channel, next);
                placed.push(Ok(next));
                // Only messages that mention someone pay for the inbox.
                if !msg.inbox.is_empty() {
                    let row = tx.last_insert_rowid();
                    inbox_ids.resize(placed.len(), Vec::new());
                    inbox_ids[placed.len() - 1] =
                        msg.inbox.iter().map(|r| inbox::insert(&tx, r, row, inbox_max)).collect::<Result<_, _>>()?;
                }
            }
            inbox::delivered(&tx, &delivered)?;
            self.progress.committing.store(number, Ordering::Release);
            tx.commit()
        })();
        let answer = result.as_ref().map(|_| ()).map_err(|e| StoreError::Sqlite(e.to_string()));
        for (_, done) in members.drain(..) {
            let _ = done.send(answer.clone());
        }
        match result {
            Ok(()) => {
                self.checkpoint.committed();
                self.rows += placed.iter().filter(|p| p.is_ok()).count() as u64;
                let mut inbox_ids = inbox_ids.into_iter();
                let outcomes = batch
                    .drain(..)
                    .zip(placed)
                    .map(|((msg, done), place)| {
                        let ids = inbox_ids.next().unwrap_or_default();
                        let appended = match place {
                            Ok(seq) => Appended::New(StoredMessage { seq, msg, inbox_ids: ids }),
                            Err(first) => Appended::Repeat(first),
                        };
                        (Ok(appended), done)
                    })
                    .collect();
                self.enforce_retention();
                Some((number, outcomes))
            }
            Err(e) => {
                // The marks are retried with the next batch; a failed message wrote no rows.
                self.delivered = delivered;
                tracing::error!(error = %e, rows = batch.len(), "message batch failed to commit");
                let err = StoreError::from(e);
                Some((number, batch.drain(..).map(|(_, done)| (Err(err.clone()), done)).collect()))
            }
        }
    }

    /// Deletes delivered inbox rows before a write; otherwise they ride with the next batch.
    fn forget_delivered(&mut self) {
        if self.delivered.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.delivered);
        let result = self.conn.transaction().and_then(|tx| {
            inbox::delivered(&tx, &ids)?;
            tx.commit()
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "forgetting delivered mentions failed");
            self.delivered = ids;
        }
    }

    fn enforce_retention(&mut self) {
        let keep = self.retention_max_rows;
        // Prune in steps of 1% so deletes stay rare and cheap.
        if keep == 0 || self.rows <= keep + keep / 100 {
            return;
        }
        match messages::prune(&self.conn, keep) {
            Ok(n) => {
                self.rows -= n as u64;
                tracing::debug!(removed = n, "retention pruned old messages");
            }
            Err(e) => tracing::warn!(error = %e, "retention prune failed"),
        }
    }
}
