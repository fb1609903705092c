//! One timeline across the hub processes on one database. Each process delivers every
//! channel's messages in `seq` order: its own commits as the delivery task hands them over,
//! other processes' as rows fetched by `seq` once their commit is announced (`NOTIFY`, see
//! [`super::listen`]), any gap filled from the table before delivery moves past it. A read
//! waits until the rows it returns were delivered here ([`Timeline::caught_up`]), as the
//! single-process guarantee says (`store::delivery`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};

use super::messages;
use crate::hub::store::delivery::Outcome;
use crate::hub::store::error::StoreError;
use crate::hub::store::message::HistoryRow;
use crate::hub::store::peers::{PeerNote, PeerRow, Sink};

/// Rows fetched per query when filling a gap.
const FILL_PAGE: i64 = 500;

/// Longest a read waits for the rows it saw to be delivered here; past it the read returns
/// anyway (the database is likely failing, and the fill is retried).
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// Pause after a failed fill before the next attempt.
const FILL_RETRY: Duration = Duration::from_secs(1);

/// One channel's place in the timeline.
#[derive(Default)]
struct Head {
    /// Every `seq` up to here was delivered (or has no row: pruned, or never committed).
    delivered: u64,
    /// Rows up to here were fetched (or are this process's own): a `seq` at or below it that
    /// is neither held nor expected has no row.
    known: u64,
    /// A fill was asked through here.
    asked: u64,
    /// This process's own commits whose delivery has not reached the timeline yet; delivery
    /// stops before them. Noted before the commit, so a fill never takes one for a peer's.
    own: BTreeSet<u64>,
    /// Rows and own messages that arrived ahead of a gap.
    held: BTreeMap<u64, Held>,
    /// Rows a fill found at numbers still expected as own: dropped when the own message
    /// arrives, delivered if its commit reported a failure although it committed.
    own_rows: BTreeMap<u64, PeerRow>,
    /// The highest `seq` announced, own commits included.
    heard: u64,
}

enum Held {
    Own(Outcome),
    Peer(PeerRow),
}

/// A fill request: rows of `channel` through `seq`.
type Fill = (String, u64);

pub(super) struct Timeline {
    heads: Mutex<HashMap<String, Head>>,
    sink: OnceLock<Sink>,
    fills: mpsc::UnboundedSender<Fill>,
    /// Ticks whenever delivery moved on, for [`Timeline::caught_up`].
    moved: watch::Sender<u64>,
}

impl Timeline {
    /// A timeline that starts at `heads` (each channel's last `seq` now), and its fill task.
    pub(super) fn start(pool: Pool, heads: HashMap<String, u64>) -> Arc<Timeline> {
        let (fills, asked) = mpsc::unbounded_channel();
        let heads = heads.into_iter().map(|(ch, seq)| (ch, Head { delivered: seq, known: seq, asked: seq, ..Head::default() }));
        let timeline = Arc::new(Timeline {
            heads: Mutex::new(heads.collect()),
            sink: OnceLock::new(),
            fills,
            moved: watch::Sender::new(0),
        });
        tokio::spawn(fill_task(Arc::downgrade(&timeline), pool, asked));
        timeline
    }

    pub(super) fn set_sink(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Passes a note on.
    pub(super) fn note(&self, note: PeerNote, mine: bool) {
        if let Some(sink) = self.sink.get() {
            sink.note(note, mine);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Head>> {
        self.heads.lock().expect("timeline lock")
    }

    /// This process is about to commit these `(channel, seq)`: delivery waits for them.
    pub(super) fn expect_own(&self, placed: &[(&str, u64)]) {
        let mut heads = self.lock();
        for (channel, seq) in placed {
            head(&mut heads, channel).own.insert(*seq);
        }
    }

    /// The commit of these did not succeed, or its outcome is unknown: stop waiting for them.
    /// A failed commit's numbers go to the next commit. One that did commit after all (the
    /// connection broke after the server committed) is delivered as a peer's: from a row a
    /// fill already found, or fetched once its announcement was heard, now or later.
    pub(super) fn own_failed(&self, placed: &[(&str, u64)]) {
        let mut heads = self.lock();
        for (channel, seq) in placed {
            if let Some(h) = heads.get_mut(*channel) {
                h.own.remove(seq);
                if let Some(row) = h.own_rows.remove(seq) {
                    h.held.insert(*seq, Held::Peer(row));
                }
            }
        }
        let channels: BTreeSet<&str> = placed.iter().map(|(c, _)| *c).collect();
        for channel in channels {
            let heard = heads.get(channel).map_or(0, |h| h.heard);
            self.ask(&mut heads, channel, heard);
            self.advance(&mut heads, channel);
        }
    }

    /// An own committed message from the delivery task: delivered in its channel's order.
    pub(super) fn own(&self, channel: &str, seq: u64, outcome: Outcome) {
        let mut heads = self.lock();
        let h = head(&mut heads, channel);
        h.own.remove(&seq);
        h.own_rows.remove(&seq);
        if seq <= h.delivered {
            // Cannot happen while own commits are expected before they commit; answering the
            // origin matters more than the order then.
            tracing::warn!(channel, seq, delivered = h.delivered, "own message behind the timeline");
            let (result, done) = outcome;
            done(result);
            return;
        }
        h.held.insert(seq, Held::Own(outcome));
        // Fetch what lies before it unless it is all this process's own, on its way.
        let mut gap_top = seq - 1;
        while gap_top > h.delivered && (h.own.contains(&gap_top) || h.held.contains_key(&gap_top)) {
            gap_top -= 1;
        }
        if gap_top > h.delivered {
            self.ask(&mut heads, channel, gap_top);
        }
        self.advance(&mut heads, channel);
    }

    /// A commit of `channel` through `seq` was announced: this process's own (then its
    /// delivery is on the way) or another's.
    pub(super) fn announced(&self, channel: &str, seq: u64) {
        let mut heads = self.lock();
        let h = head(&mut heads, channel);
        h.heard = h.heard.max(seq);
        if h.own.contains(&seq) || h.held.contains_key(&seq) {
            return;
        }
        self.ask(&mut heads, channel, seq);
    }

    /// After a lost connection to the announcements: catch up to the heads read since.
    pub(super) fn resync(&self, heads_now: HashMap<String, u64>) {
        let mut heads = self.lock();
        for (channel, seq) in heads_now {
            self.ask(&mut heads, &channel, seq);
        }
    }

    /// Waits until every row of `rows` was delivered here (fetching what was not announced),
    /// at most [`CATCH_UP_WAIT`]; whether it had to wait.
    pub(super) async fn caught_up<'a>(&self, rows: impl IntoIterator<Item = &'a HistoryRow>) -> bool {
        let mut through: HashMap<&str, u64> = HashMap::new();
        for r in rows {
            let s = through.entry(r.channel.as_str()).or_default();
            *s = (*s).max(r.seq);
        }
        let behind = |heads: &HashMap<String, Head>| through.iter().any(|(ch, seq)| heads.get(*ch).is_none_or(|h| h.delivered < *seq));
        {
            let mut heads = self.lock();
            if !behind(&heads) {
                return false;
            }
            for (ch, seq) in &through {
                self.ask(&mut heads, ch, *seq);
            }
        }
        // Subscribed before each look, so a move after the look wakes the wait. The heads lock
        // is never held while the watch is borrowed (`advance` takes them the other way).
        let mut moved = self.moved.subscribe();
        let wait = async {
            loop {
                let done = !behind(&self.lock());
                if done || moved.changed().await.is_err() {
                    break;
                }
            }
        };
        if tokio::time::timeout(CATCH_UP_WAIT, wait).await.is_err() {
            tracing::warn!("a read returned rows not yet delivered on this hub (the timeline is behind)");
        }
        true
    }

    /// Asks the fill task for `channel` through `seq` unless asked already.
    fn ask(&self, heads: &mut HashMap<String, Head>, channel: &str, seq: u64) {
        let h = head(heads, channel);
        if seq > h.asked.max(h.delivered) {
            h.asked = seq;
            let _ = self.fills.send((channel.to_string(), seq));
        }
    }

    /// Fetched rows of `channel`, and that the table has nothing else through `through`.
    fn fetched(&self, channel: &str, rows: Vec<PeerRow>, through: u64) {
        let mut heads = self.lock();
        let h = head(&mut heads, channel);
        for r in rows {
            let seq = r.row.seq;
            if seq <= h.delivered || h.held.contains_key(&seq) {
                continue;
            }
            if h.own.contains(&seq) {
                h.own_rows.insert(seq, r);
            } else {
                h.held.insert(seq, Held::Peer(r));
            }
        }
        h.known = h.known.max(through);
        self.advance(&mut heads, channel);
    }

    /// Where the next fill of `channel` starts.
    fn fill_from(&self, channel: &str) -> u64 {
        self.lock().get(channel).map_or(0, |h| h.known.max(h.delivered))
    }

    /// Delivers what is next in `channel`, and skips the numbers known to have no row.
    fn advance(&self, heads: &mut HashMap<String, Head>, channel: &str) {
        let Some(h) = heads.get_mut(channel) else { return };
        let before = h.delivered;
        loop {
            let next = h.delivered + 1;
            if let Some(item) = h.held.remove(&next) {
                h.delivered = next;
                match item {
                    Held::Own((result, done)) => done(result),
                    Held::Peer(row) => {
                        if let Some(sink) = self.sink.get() {
                            sink.row(row);
                        }
                    }
                }
                continue;
            }
            // Numbers without a row (pruned, or a commit that failed) up to what is known,
            // stopping before anything held or expected.
            let stop = [h.held.keys().next(), h.own.iter().next()].into_iter().flatten().map(|s| s - 1).min().unwrap_or(u64::MAX);
            let skip_to = h.known.min(stop);
            if skip_to > h.delivered {
                h.delivered = skip_to;
                continue;
            }
            break;
        }
        if h.delivered != before {
            self.moved.send_modify(|n| *n += 1);
        }
    }
}

/// The channel's head, made when first seen (a channel with no row when this process started);
/// the name is copied only then.
fn head<'a>(heads: &'a mut HashMap<String, Head>, channel: &str) -> &'a mut Head {
    if !heads.contains_key(channel) {
        heads.insert(channel.to_string(), Head::default());
    }
    heads.get_mut(channel).expect("inserted above")
}

/// Fetches asked rows by `seq`, a page at a time, until the timeline is dropped. A failed
/// fetch is retried: what waits behind the gap (own messages too) must not be stranded.
async fn fill_task(timeline: std::sync::Weak<Timeline>, pool: Pool, mut asked: mpsc::UnboundedReceiver<Fill>) {
    while let Some((channel, through)) = asked.recv().await {
        loop {
            let Some(t) = timeline.upgrade() else { return };
            let from = t.fill_from(&channel);
            if from >= through {
                break;
            }
            match fetch(&pool, &channel, from, through).await {
                Ok(rows) => {
                    // A full page may stop short of `through`: the next page starts after it.
                    let reached = if rows.len() as i64 == FILL_PAGE { rows.last().map_or(through, |r| r.row.seq) } else { through };
                    t.fetched(&channel, rows, reached);
                }
                Err(e) => {
                    tracing::warn!(channel, error = %e, "fetching rows another hub committed failed; retrying");
                    drop(t);
                    tokio::time::sleep(FILL_RETRY).await;
                }
            }
        }
    }
}

async fn fetch(pool: &Pool, channel: &str, after: u64, through: u64) -> Result<Vec<PeerRow>, StoreError> {
    messages::peer_rows(&pool.get().await?, channel, after, through, FILL_PAGE).await
}

#[cfg(test)]
mod tests;
