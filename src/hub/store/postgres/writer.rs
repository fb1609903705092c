//! The writer task: drains whatever arrived, stores the messages in one transaction (group
//! commit) and hands the committed batch to the delivery task ([`crate::hub::store::delivery`]).
//! Each channel's `seq` comes from its `channel_heads` row, locked by the batch's transaction
//! until the commit, so another hub process writing the same channel waits and the numbers
//! stay unique and gapless. A batch that fails (the database is down, the connection broke)
//! answers every message with the error: nothing is acked that did not commit, and the next
//! batch takes a fresh connection from the pool.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::timeline::Timeline;
use super::{inbox, listen, members, messages};
use crate::hub::store::error::StoreError;
use crate::hub::store::delivery::{Batch, OnCommit, Progress};
use crate::hub::store::message::{Appended, MembershipChange, NewMessage, Placed, StoredMessage};

// Appends are the hot path: boxing the message would cost an allocation for each one.
#[allow(clippy::large_enum_variant)]
pub enum Job {
    Append(NewMessage, OnCommit),
    /// Inbox rows whose mention reached its agent live: deleted in the next batch's transaction.
    Delivered(Vec<i64>),
    /// Answered once the batch's transaction committed (or failed).
    Membership(MembershipChange, oneshot::Sender<Result<(), StoreError>>),
    /// Answered once everything queued before it, delivered marks included, was committed.
    Flush(oneshot::Sender<()>),
}

/// Most jobs taken into one transaction.
const MAX_BATCH: usize = 4096;

type Member = (MembershipChange, oneshot::Sender<Result<(), StoreError>>);

/// Per message: its new `seq`, or the place of the copy its key already names.
type Place = Result<u64, Placed>;

pub(super) struct Writer {
    pool: Pool,
    progress: Arc<Progress>,
    timeline: Arc<Timeline>,
    batches: u64,
    retention_max_rows: u64,
    /// Rows in `messages` as far as this process knows (others may add more): retention
    /// prunes only once this passes the bound by 1%.
    rows: u64,
    inbox_max: u64,
    /// Delivered inbox rows not yet deleted.
    delivered: Vec<i64>,
}

impl Writer {
    pub(super) fn new(pool: Pool, progress: Arc<Progress>, timeline: Arc<Timeline>, rows: u64, retention_max_rows: u64, inbox_max: u64) -> Self {
        Writer { pool, progress, timeline, batches: 0, retention_max_rows, rows, inbox_max, delivered: Vec::new() }
    }

    /// Runs until every job sender is gone.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Job>, committed: mpsc::Sender<Batch>) {
        let mut batch: Vec<(NewMessage, OnCommit)> = Vec::with_capacity(MAX_BATCH);
        let mut members: Vec<Member> = Vec::new();
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        while let Some(job) = rx.recv().await {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                match job {
                    Job::Append(msg, done) => batch.push((msg, done)),
                    Job::Delivered(ids) => self.delivered.extend(ids),
                    Job::Membership(change, done) => members.push((change, done)),
                    Job::Flush(done) => flushes.push(done),
                }
                if batch.len() + members.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            // Delivered marks commit at once, not with the next message or flush: another hub
            // may hand out this inbox when the agent moves there.
            if !batch.is_empty() || !members.is_empty() || !self.delivered.is_empty() {
                let outcome = self.commit(&mut batch, &mut members).await;
                let _ = committed.send(outcome).await;
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
        tracing::debug!("store writer stopped");
    }

    /// Stores and commits the batch with the membership changes and delivered marks, answers
    /// the changes, and returns the batch's number and each message's outcome in commit order.
    async fn commit(&mut self, batch: &mut Vec<(NewMessage, OnCommit)>, members: &mut Vec<Member>) -> Batch {
        self.batches += 1;
        let number = self.batches;
        let delivered = std::mem::take(&mut self.delivered);
        // The continuations stay out of the transaction's future: they need not be `Sync`.
        let (msgs, dones): (Vec<NewMessage>, Vec<OnCommit>) = batch.drain(..).unzip();
        let result = self.transact(&msgs, members, &delivered, number).await;
        for (_, done) in members.drain(..) {
            let _ = done.send(result.as_ref().map(drop).map_err(Clone::clone));
        }
        match result {
            Ok((placed, mut inbox_ids)) => {
                self.rows += placed.iter().filter(|p| p.is_ok()).count() as u64;
                let outcomes = msgs
                    .into_iter()
                    .zip(dones)
                    .zip(placed)
                    .enumerate()
                    .map(|(i, ((msg, done), place))| {
                        let appended = match place {
                            Ok(seq) => Appended::New(StoredMessage { seq, msg, inbox_ids: inbox_ids.remove(&i).unwrap_or_default() }),
                            Err(first) => Appended::Repeat(first),
                        };
                        (Ok(appended), done)
                    })
                    .collect();
                self.enforce_retention().await;
                (number, outcomes)
            }
            Err(e) => {
                // The marks are retried with the next batch; a failed message wrote no rows.
                self.delivered = delivered;
                tracing::error!(error = %e, rows = dones.len(), "message batch failed to commit");
                (number, dones.into_iter().map(|done| (Err(e.clone()), done)).collect())
            }
        }
    }

    /// The batch's transaction: membership changes, resends told apart, `seq` numbers from the
    /// locked heads, the rows, their inbox rows, the delivered marks. Returns each message's
    /// place and the inbox rows written per message index.
    async fn transact(
        &self,
        batch: &[NewMessage],
        members: &[Member],
        delivered: &[i64],
        number: u64,
    ) -> Result<(Vec<Place>, HashMap<usize, Vec<i64>>), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for (change, _) in members {
            members::apply(&tx, change).await?;
        }
        let placed = place(&tx, batch).await?;
        let ids = messages::insert(&tx, batch, &placed).await?;
        let mut inbox_ids = HashMap::new();
        for (i, (msg, place)) in batch.iter().zip(&placed).enumerate() {
            if msg.inbox.is_empty() || place.is_err() {
                continue;
            }
            let row = ids[&msg.msg_id];
            let mut written = Vec::with_capacity(msg.inbox.len());
            for r in &msg.inbox {
                written.push(inbox::insert(&tx, r, row, self.inbox_max).await?);
            }
            inbox_ids.insert(i, written);
        }
        inbox::delivered(&tx, delivered).await?;
        let own: Vec<(&str, u64)> =
            batch.iter().zip(&placed).filter_map(|(m, p)| p.as_ref().ok().map(|seq| (m.channel.as_str(), *seq))).collect();
        listen::announce_commit(&tx, &last_per_channel(&own)).await?;
        self.timeline.expect_own(&own);
        self.progress.committing(number);
        if let Err(e) = tx.commit().await {
            self.timeline.own_failed(&own);
            return Err(e.into());
        }
        Ok((placed, inbox_ids))
    }

    async fn enforce_retention(&mut self) {
        let keep = self.retention_max_rows;
        // Prune in steps of 1% so deletes stay rare and cheap.
        if keep == 0 || self.rows <= keep + keep / 100 {
            return;
        }
        let pruned = async {
            let client = self.pool.get().await?;
            messages::prune(&client, keep).await
        };
        match pruned.await {
            Ok(n) => {
                self.rows = self.rows.saturating_sub(n);
                tracing::debug!(removed = n, "retention pruned old messages");
            }
            Err(e) => tracing::warn!(error = %e, "retention prune failed"),
        }
    }
}

/// The highest `seq` per channel of `(channel, seq)` pairs in ascending `seq` per channel.
fn last_per_channel<'a>(placed: &[(&'a str, u64)]) -> Vec<(&'a str, u64)> {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (channel, seq) in placed {
        last.insert(channel, *seq);
    }
    last.into_iter().collect()
}

/// Numbers the batch: a message whose key is held (stored before, or earlier in this batch) is
/// a resend and gets the first copy's place; every other one the next `seq` of its channel,
/// from the channel's head row, which stays locked until the commit.
async fn place(tx: &Transaction<'_>, batch: &[NewMessage]) -> Result<Vec<Place>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let keyed: Vec<(&str, String)> =
        batch.iter().filter_map(|m| m.key.as_ref().map(|k| (m.sender.as_str(), k.column()))).collect();
    let mut held: HashMap<(String, String), Placed> = messages::held_keys(tx, &keyed).await?;
    let mut channels: Vec<&str> = batch.iter().map(|m| m.channel.as_str()).collect();
    channels.sort_unstable();
    channels.dedup();
    let mut heads = messages::lock_heads(tx, &channels).await?;
    let mut placed = Vec::with_capacity(batch.len());
    for msg in batch {
        let key = msg.key.as_ref().map(|k| (msg.sender.clone(), k.column()));
        if let Some(first) = key.as_ref().and_then(|k| held.get(k)) {
            placed.push(Err(first.clone()));
            continue;
        }
        let head = heads.get_mut(msg.channel.as_str()).expect("every channel of the batch was locked");
        *head += 1;
        placed.push(Ok(*head));
        if let Some(k) = key {
            held.insert(k, Placed { seq: *head, msg_id: msg.msg_id.clone() });
        }
    }
    messages::set_heads(tx, &heads).await?;
    Ok(placed)
}
