//! The delivery side of group commit, shared by every backend: a backend's writer commits a
//! batch, then hands it here; the delivery task calls each message's continuation in commit
//! order while the writer commits the next batch. [`Progress`] lets reads wait until the
//! batches they could see were delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};

use super::error::StoreError;
use super::message::Appended;

/// Called in the delivery task after the message's transaction committed (or failed).
pub type OnCommit = Box<dyn FnOnce(Result<Appended, StoreError>) + Send>;

/// One message's result and its continuation.
pub type Outcome = (Result<Appended, StoreError>, OnCommit);

/// A committed (or failed) batch: its number and its messages' outcomes in commit order.
pub type Batch = (u64, Vec<Outcome>);

/// How the delivery task hands over each outcome when a backend orders them itself (see
/// `postgres::timeline`); without one, each continuation runs at once.
pub type Route = Box<dyn Fn(Outcome) + Send>;

/// Committed batches waiting for delivery; when full, the writer waits (back-pressure).
const DELIVERY_QUEUE: usize = 16;

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
    fn new() -> Self {
        Progress { committing: AtomicU64::new(0), delivered: watch::Sender::new(0) }
    }

    /// The writer is about to commit batch `number`: reads from now on may see it.
    pub fn committing(&self, number: u64) {
        self.committing.store(number, Ordering::Release);
    }

    /// Waits until every batch whose rows a read just made could have seen is delivered.
    /// Call after the read.
    pub async fn reads_delivered(&self) {
        let target = self.committing.load(Ordering::Acquire);
        // Err only when the delivery task is gone: nothing left to wait for.
        let _ = self.delivered.subscribe().wait_for(|d| *d >= target).await;
    }
}

/// Starts the delivery task; it ends when the returned sender is dropped. Delivery runs on the
/// runtime: the sockets it wakes land in a worker's own run queue, where waking them from a
/// foreign thread would take a lock and a futex call each. A batch of membership changes alone
/// is delivered too (empty), so `Progress` moves on.
pub fn spawn(route: Option<Route>) -> (mpsc::Sender<Batch>, Arc<Progress>) {
    let (committed, mut deliveries) = mpsc::channel::<Batch>(DELIVERY_QUEUE);
    let progress = Arc::new(Progress::new());
    let delivered = progress.clone();
    tokio::spawn(async move {
        while let Some((number, batch)) = deliveries.recv().await {
            for outcome in batch {
                match &route {
                    Some(route) => route(outcome),
                    None => {
                        let (result, done) = outcome;
                        done(result);
                    }
                }
                // A large batch gives the worker back now and then, so sockets are served.
                tokio::task::consume_budget().await;
            }
            delivered.delivered.send_replace(number);
        }
    });
    (committed, progress)
}
