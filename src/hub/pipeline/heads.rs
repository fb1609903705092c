//! Each channel's head as this hub knows it (the highest `seq` it has delivered live, or read
//! from the store since it started) and the frames it delivered last. A client that registers
//! with its positions (`resume`) and holds a channel's head missed nothing there; one a few
//! messages behind gets them from here, before its ack, instead of reading history. After a
//! restart every agent comes back at once, and a history read each would be most of the work.
//!
//! Why that is exact: a delivery records its frame and fans it out under one lock, and a
//! register joins the registry and takes what it missed under the same lock. A message is
//! either recorded before the join, so it is among the frames handed over (and the agent was no
//! member when it went out), or fanned out after it, so it reaches the agent live, after the
//! handed-over frames. A channel whose missed frames are not all kept here (none since the start,
//! too far behind, evicted) is not caught up, and its client reads history as before. It holds
//! only where this hub delivers every message committed to its store: on SQLite (one hub writes
//! its file). Hubs on PostgreSQL are replicas that write one store, and a head of this hub's
//! would not count the others' messages: there no channel is ever caught up.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use axum::extract::ws::Message;

use crate::hub::state::auth::Principal;
use crate::hub::store::{HistoryQuery, Store, reader_scope};

/// Frames kept per channel: a client further behind reads history.
const FRAMES_PER_CHANNEL: usize = 64;
/// Bytes of frames kept over all channels; past it, the channels delivered to longest ago give
/// their frames up.
const KEPT_BYTES: usize = 16 << 20;

pub struct Heads {
    tails: Mutex<Tails>,
    /// This hub alone writes its store (see the module's doc).
    alone: bool,
}

#[derive(Default)]
struct Tails {
    channels: HashMap<String, Tail>,
    /// Bytes of all kept frames.
    bytes: usize,
    /// Deliveries so far: when each channel was delivered to last.
    clock: u64,
}

#[derive(Default)]
struct Tail {
    head: u64,
    /// Consecutive `seq`s, the last of them `head` when not empty.
    frames: VecDeque<Kept>,
    last_delivery: u64,
}

struct Kept {
    seq: u64,
    /// The workspace that may read it; `None`: every reader.
    scope: Option<String>,
    frame: Message,
}

fn size(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        _ => 0,
    }
}

impl Heads {
    pub fn new(alone: bool) -> Heads {
        Heads { tails: Mutex::default(), alone }
    }

    /// A message of `channel` at `seq`, readable in `scope`, goes out live: `fan_out` sends it
    /// while its frame is recorded (see the module's doc).
    pub fn deliver(&self, channel: &str, seq: u64, scope: Option<&str>, frame: &Message, fan_out: impl FnOnce()) {
        if !self.alone {
            return fan_out();
        }
        let mut tails = self.tails.lock().expect("heads lock");
        tails.record(channel, Kept { seq, scope: scope.map(str::to_string), frame: frame.clone() });
        fan_out();
    }

    /// Runs `join` (the agent enters the registry and so the channels `joined`), then sends the
    /// frames it missed on each resumed channel this hub still holds, oldest first, through
    /// `send`, at most `room` (frames, bytes) of them so the socket's queue never overflows;
    /// returns the channels it is then caught up on. `reader` sees what its history would show it.
    pub fn resume(
        &self,
        positions: &[(String, u64)],
        joined: &BTreeSet<String>,
        reader: &Principal,
        room: (usize, usize),
        join: impl FnOnce(),
        mut send: impl FnMut(&Message),
    ) -> Vec<String> {
        if positions.is_empty() || !self.alone {
            join();
            return Vec::new();
        }
        let tails = self.tails.lock().expect("heads lock");
        join();
        let scope = reader_scope(reader);
        let scope = scope.as_deref();
        let (mut frames, mut bytes) = room;
        let mut caught_up = Vec::new();
        for (channel, at) in positions.iter().filter(|(c, _)| joined.contains(c)) {
            let Some(missed) = tails.channels.get(channel).and_then(|t| t.after(*at)) else { continue };
            let missed: Vec<&Message> = missed.filter(|k| scope.is_none() || k.scope.is_none() || k.scope.as_deref() == scope).map(|k| &k.frame).collect();
            let size: usize = missed.iter().map(|m| size(m)).sum();
            if missed.len() > frames || size > bytes {
                continue;
            }
            (frames, bytes) = (frames - missed.len(), bytes - size);
            missed.into_iter().for_each(&mut send);
            caught_up.push(channel.clone());
        }
        caught_up
    }

    /// Learns the head of every channel with rows, as the admin reads them (every row). Run
    /// once at start, beside serving: until a channel's head is known its clients read history.
    pub async fn load(&self, store: &Store) {
        if !self.alone {
            return;
        }
        let channels = match store.channels(Principal::Admin).await {
            Ok(c) => c,
            Err(e) => return tracing::warn!(error = %e, "cannot read the channels' heads; resuming clients read history"),
        };
        for channel in channels {
            let newest = HistoryQuery { reader: Principal::Admin, channel: channel.clone(), limit: 1, after_seq: None, since: None, sender: None, contains: None, thread: None };
            match store.history(newest).await {
                Ok(rows) => {
                    if let Some(row) = rows.first() {
                        let mut tails = self.tails.lock().expect("heads lock");
                        let tail = tails.channels.entry(channel).or_default();
                        tail.head = tail.head.max(row.seq);
                    }
                }
                Err(e) => return tracing::warn!(error = %e, channel, "cannot read a channel's head; its resuming clients read history"),
            }
        }
    }
}

impl Tail {
    /// The frames after `at` up to the head, when this tail holds all of them (none when `at`
    /// is the head or past it); `None` when some are not kept.
    fn after(&self, at: u64) -> Option<impl Iterator<Item = &Kept>> {
        if at >= self.head {
            return Some(self.frames.range(0..0));
        }
        let first = self.frames.front()?.seq;
        let last = self.frames.back()?.seq;
        (first <= at + 1 && last == self.head).then(|| self.frames.range((at + 1 - first) as usize..))
    }
}

impl Tails {
    fn record(&mut self, channel: &str, kept: Kept) {
        self.clock += 1;
        let clock = self.clock;
        if !self.channels.contains_key(channel) {
            self.channels.insert(channel.to_string(), Tail::default());
        }
        let tail = self.channels.get_mut(channel).expect("inserted above");
        let mut freed = 0;
        // Only consecutive frames answer a resume: a gap (never expected on one store) starts over.
        if tail.frames.back().is_some_and(|k| k.seq + 1 != kept.seq) {
            freed += tail.frames.drain(..).map(|k| size(&k.frame)).sum::<usize>();
        }
        let added = size(&kept.frame);
        tail.head = tail.head.max(kept.seq);
        tail.frames.push_back(kept);
        while tail.frames.len() > FRAMES_PER_CHANNEL {
            freed += tail.frames.pop_front().map_or(0, |k| size(&k.frame));
        }
        tail.last_delivery = clock;
        self.bytes = self.bytes + added - freed;
        while self.bytes > KEPT_BYTES && self.evict_oldest(channel) {}
    }

    /// Drops the frames of the quarter of the channels (at least one) delivered to longest ago,
    /// other than `keep`; false when there is none. A quarter, so the scan of every channel is
    /// paid once per many deliveries even when the budget is full of small tails.
    fn evict_oldest(&mut self, keep: &str) -> bool {
        let mut holding: Vec<(u64, &String)> = self.channels.iter().filter(|(c, t)| *c != keep && !t.frames.is_empty()).map(|(c, t)| (t.last_delivery, c)).collect();
        if holding.is_empty() {
            return false;
        }
        let n = holding.len().div_ceil(4);
        holding.select_nth_unstable(n - 1);
        let oldest: Vec<String> = holding[..n].iter().map(|(_, c)| (*c).clone()).collect();
        for channel in oldest {
            let tail = self.channels.get_mut(&channel).expect("found above");
            self.bytes -= tail.frames.drain(..).map(|k| size(&k.frame)).sum::<usize>();
        }
        true
    }
}

#[cfg(test)]
mod tests;
