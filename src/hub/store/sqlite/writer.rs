//! The single writer thread. It owns the one write connection, drains whatever arrived,
//! inserts the messages in one transaction (group commit) and hands the committed batch to the
//! delivery task, which calls each message's continuation in commit order. The writer is
//! already inserting the next batch while the last one is delivered. Membership changes join
//! the transaction of the batch they arrive with; other writes run as closures between batches.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Nudge;
use super::{inbox, keys, members, messages};
use crate::hub::store::error::StoreError;
use crate::hub::store::delivery::{Batch, OnCommit, Progress};
use crate::hub::store::message::{Appended, MembershipChange, NewMessage, StoredMessage};

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

type Member = (MembershipChange, oneshot::Sender<Result<(), StoreError>>);

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

    /// Starts the writer thread; it ends when every job sender is gone.
    pub(super) fn spawn(self, rx: mpsc::Receiver<Job>, committed: mpsc::Sender<Batch>) -> std::io::Result<()> {
        std::thread::Builder::new().name("orochi-store-writer".into()).spawn(move || self.run(rx, committed))?;
        Ok(())
    }

    fn run(mut self, mut rx: mpsc::Receiver<Job>, committed: mpsc::Sender<Batch>) {
        let mut batch: Vec<(NewMessage, OnCommit)> = Vec::with_capacity(MAX_BATCH);
        let mut members: Vec<Member> = Vec::new();
        // A batch of membership changes alone is delivered too (empty), so `Progress` moves on.
        let deliver = |outcomes: Option<Batch>| {
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
    fn commit(&mut self, batch: &mut Vec<(NewMessage, OnCommit)>, members: &mut Vec<Member>) -> Option<Batch> {
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
                members::apply(&tx, change)?;
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
            self.progress.committing(number);
            tx.commit()
        })();
        let result = result.map_err(StoreError::from);
        for (_, done) in members.drain(..) {
            let _ = done.send(result.clone());
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
                Some((number, batch.drain(..).map(|(_, done)| (Err(e.clone()), done)).collect()))
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
