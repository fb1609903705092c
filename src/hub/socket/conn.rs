//! One socket's outbound side: a queue bounded in frames and in bytes, drained by its own
//! writer task, so a slow peer never stalls the hub or other peers, nor grows its memory.
//! Frames arrive already serialized and shared.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, stream::SplitSink};
use tokio::sync::{Notify, oneshot};

use crate::hub::state::auth::Principal;
use crate::hub::state::metrics::Metrics;

/// The close codes of the protocol, and the one a failed read deserves.
pub mod close_code {
    pub use crate::protocol::close::*;

    /// The close a failed read deserves, by what tungstenite saw.
    pub fn for_read_error(e: axum::Error) -> (u16, &'static str) {
        use tokio_tungstenite::tungstenite::Error;
        match e.into_inner().downcast::<Error>().map(|b| *b) {
            Ok(Error::Utf8(_)) => (INVALID_PAYLOAD, "text frame is not valid UTF-8"),
            Ok(Error::Capacity(_)) => (TOO_BIG, "frame too large"),
            Ok(Error::Protocol(_)) => (PROTOCOL_ERROR, "WebSocket protocol violation"),
            _ => (PROTOCOL_ERROR, "unreadable frame"),
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Handle to one connection, shared by the registry and the pipeline.
pub struct Conn {
    pub id: u64,
    pub principal: Principal,
    /// SHA-256 of the workspace token this socket authenticated with, so revoking the token
    /// closes it; `None` for the admin token.
    pub token_hash: Option<String>,
    /// The client's address as the listener trusts it (see `listener`), for audits.
    pub client_addr: Option<std::net::IpAddr>,
    tx: flume::Sender<Message>,
    /// Bytes of the frames waiting in the queue, and the most allowed.
    queued: Arc<AtomicUsize>,
    byte_budget: usize,
    closer: Mutex<Option<oneshot::Sender<(u16, &'static str)>>>,
    /// Set by [`Conn::close`]: frames queued after it would never be written, so none are taken.
    closing: AtomicBool,
    /// Messages this socket submitted and those already committed: a later query waits for
    /// them so a client always reads its own writes.
    submitted: AtomicU64,
    committed: AtomicU64,
    /// Frame bytes of submitted messages not committed yet (briefly negative when a commit
    /// is counted before its submission): the socket is not read while over its budget.
    uncommitted_bytes: AtomicI64,
    committed_changed: Notify,
}

/// The receiving ends a writer task needs.
pub struct ConnOutbox {
    rx: flume::Receiver<Message>,
    queued: Arc<AtomicUsize>,
    close: oneshot::Receiver<(u16, &'static str)>,
}

impl Conn {
    /// A connection whose queue holds at most `frames` frames and `bytes` bytes (one frame
    /// always fits into an empty queue, whatever its size).
    pub fn new(principal: Principal, frames: usize, bytes: usize) -> (Conn, ConnOutbox) {
        // flume rather than tokio's mpsc: its queue grows with use, where tokio's allocates a
        // block of 32 slots up front (1.5 KB on every idle connection).
        let (tx, rx) = flume::bounded(frames.max(1));
        let (close_tx, close) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let conn = Conn {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            principal,
            token_hash: None,
            client_addr: None,
            tx,
            queued: queued.clone(),
            byte_budget: bytes,
            closer: Mutex::new(Some(close_tx)),
            closing: AtomicBool::new(false),
            submitted: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            uncommitted_bytes: AtomicI64::new(0),
            committed_changed: Notify::new(),
        };
        (conn, ConnOutbox { rx, queued, close })
    }

    /// Queues a frame without waiting. A queue over its frame or byte bound cuts the
    /// connection (4008); the client resumes from its last `seq`. Returns whether the frame
    /// was queued.
    pub fn send(&self, frame: Message, metrics: &Metrics) -> bool {
        if self.closing.load(Ordering::Acquire) {
            return false;
        }
        let size = wire_size(&frame);
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > self.byte_budget {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            self.cut_slow(metrics);
            return false;
        }
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(size, Ordering::AcqRel);
                if matches!(e, flume::TrySendError::Full(_)) {
                    self.cut_slow(metrics);
                }
                false
            }
        }
    }

    fn cut_slow(&self, metrics: &Metrics) {
        if self.close(close_code::SLOW_CONSUMER, "slow consumer: outbound queue full; reconnect and resume by seq") {
            metrics.slow_consumers.inc();
            tracing::warn!(conn = self.id, "slow consumer disconnected");
        }
    }

    /// Frames and bytes waiting in the queue.
    pub fn backlog(&self) -> (usize, usize) {
        (self.tx.len(), self.queued.load(Ordering::Acquire))
    }

    /// Whether [`Conn::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub fn send_text(&self, text: String, metrics: &Metrics) -> bool {
        self.send(Message::Text(Utf8Bytes::from(text)), metrics)
    }

    /// Asks the writer task to close with `code`; true the first time.
    pub fn close(&self, code: u16, reason: &'static str) -> bool {
        self.closing.store(true, Ordering::Release);
        match self.closer.lock().expect("closer lock").take() {
            Some(tx) => {
                let _ = tx.send((code, reason));
                true
            }
            None => false,
        }
    }

    /// A message of `bytes` (its frame) was queued for commit.
    pub fn message_submitted(&self, bytes: usize) {
        self.uncommitted_bytes.fetch_add(bytes as i64, Ordering::AcqRel);
        self.submitted.fetch_add(1, Ordering::AcqRel);
    }

    /// The message of `bytes` submitted earlier was committed (or failed).
    pub fn message_committed(&self, bytes: usize) {
        self.uncommitted_bytes.fetch_sub(bytes as i64, Ordering::AcqRel);
        self.committed.fetch_add(1, Ordering::AcqRel);
        self.committed_changed.notify_waiters();
    }

    /// Waits until this socket's messages still waiting for their commit fit its byte budget,
    /// so a sender outpacing the store holds a bounded amount of hub memory.
    pub async fn uncommitted_within_budget(&self) {
        loop {
            let changed = self.committed_changed.notified();
            if self.uncommitted_bytes.load(Ordering::Acquire) <= self.byte_budget as i64 {
                return;
            }
            changed.await;
        }
    }

    /// Waits until every message this socket submitted so far has been committed.
    pub async fn own_writes_committed(&self) {
        let target = self.submitted.load(Ordering::Acquire);
        loop {
            let changed = self.committed_changed.notified();
            if self.committed.load(Ordering::Acquire) >= target {
                return;
            }
            changed.await;
        }
    }
}

/// Most frames written per flush.
const BATCH: usize = 256;

/// Bytes a queued frame holds.
fn wire_size(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// Drains the queue into the socket, batching whatever is ready into one flush, and sends
/// protocol pings. Ends on a close request (even while a write is stuck on a peer that stopped
/// reading), a write error, or when every sender is gone. A socket cut as a slow consumer
/// (4008) hands the frames still queued to `on_cut` before it is told, so what they carried
/// is not lost with them.
pub async fn write_loop(mut sink: SplitSink<WebSocket, Message>, outbox: ConnOutbox, ping_every: Option<Duration>, on_cut: Option<OnCut>) {
    let ConnOutbox { rx, queued, mut close } = outbox;
    // Frames are taken one at a time as the sink accepts them, so a stuck peer holds at most
    // one taken frame beyond its budget.
    let take = |m: Message| {
        queued.fetch_sub(wire_size(&m), Ordering::AcqRel);
        m
    };
    let period = ping_every.unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let close_req = loop {
        let write = async {
            tokio::select! {
                first = rx.recv_async() => {
                    let Ok(first) = first else { return false };
                    for m in std::iter::once(first).chain(rx.try_iter().take(BATCH - 1)).map(take) {
                        if sink.feed(m).await.is_err() {
                            return false;
                        }
                    }
                    sink.flush().await.is_ok()
                }
                _ = ping.tick(), if ping_every.is_some() => sink.send(Message::Ping(Default::default())).await.is_ok(),
            }
        };
        tokio::select! {
            biased;
            req = &mut close => break req.ok(),
            ok = write => if !ok { break None },
        }
    };
    if let (Some((close_code::SLOW_CONSUMER, _)), Some(on_cut)) = (close_req, on_cut) {
        on_cut(rx.drain().collect()).await;
    }
    if let Some((code, reason)) = close_req {
        // A restart closes after the last acks of the socket's committed messages are out.
        if code == close_code::RESTART {
            let drain = async {
                for m in rx.try_iter().map(take) {
                    if sink.feed(m).await.is_err() {
                        return;
                    }
                }
                let _ = sink.flush().await;
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
        }
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = tokio::time::timeout(Duration::from_secs(2), sink.send(Message::Close(Some(frame)))).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), sink.close()).await;
}

/// What a socket's owner does with the frames a slow-consumer cut left unsent.
pub type OnCut = Box<dyn FnOnce(Vec<Message>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send>;
