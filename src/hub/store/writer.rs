//! The single writer thread. It owns the one write connection, drains whatever arrived,
//! inserts the messages in one transaction (group commit), and only after the commit calls each
//! message's continuation, in commit order. Other writes run as closures between batches.

use std::collections::HashMap;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::StoreError;
use super::messages::{self, NewMessage, StoredMessage};

/// Called on the writer thread after the message's transaction committed (or failed).
pub type OnCommit = Box<dyn FnOnce(Result<StoredMessage, StoreError>) + Send>;

pub enum Job {
    Append(NewMessage, OnCommit),
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

/// Most jobs taken into one transaction.
const MAX_BATCH: usize = 4096;

pub(super) struct Writer {
    conn: Connection,
    retention_max_rows: u64,
    rows: u64,
}

impl Writer {
    pub(super) fn new(conn: Connection, retention_max_rows: u64) -> Result<Self, StoreError> {
        let rows = messages::count(&conn)?;
        Ok(Writer { conn, retention_max_rows, rows })
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch: Vec<(NewMessage, OnCommit)> = Vec::with_capacity(MAX_BATCH);
        while let Some(job) = rx.blocking_recv() {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                match job {
                    Job::Append(msg, done) => batch.push((msg, done)),
                    Job::Exec(f) => {
                        self.commit(&mut batch);
                        f(&mut self.conn);
                    }
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            self.commit(&mut batch);
        }
        tracing::debug!("store writer stopped");
    }

    fn commit(&mut self, batch: &mut Vec<(NewMessage, OnCommit)>) {
        if batch.is_empty() {
            return;
        }
        let mut assigned: HashMap<&str, u64> = HashMap::new();
        let mut seqs = Vec::with_capacity(batch.len());
        // IMMEDIATE takes the write lock first, so reading each channel's head inside the
        // transaction stays right even when another hub process (dev beside stable) writes too.
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for (msg, _) in batch.iter() {
                let head = match assigned.get(msg.channel.as_str()) {
                    Some(s) => *s,
                    None => messages::head_seq(&tx, &msg.channel)?,
                };
                let next = head + 1;
                messages::insert(&tx, msg, next)?;
                assigned.insert(&msg.channel, next);
                seqs.push(next);
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                self.rows += batch.len() as u64;
                for ((msg, done), seq) in batch.drain(..).zip(seqs) {
                    done(Ok(StoredMessage { seq, msg }));
                }
                self.enforce_retention();
            }
            Err(e) => {
                tracing::error!(error = %e, rows = batch.len(), "message batch failed to commit");
                let err = StoreError::from(e);
                for (_, done) in batch.drain(..) {
                    done(Err(err.clone()));
                }
            }
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
