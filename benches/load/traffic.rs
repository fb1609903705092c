//! Connections and traffic: registered listeners, pipelined or paced senders, and the counters
//! and latency histograms that become the figures. Latency is measured in this one process:
//! the sender writes `~t<ns since EPOCH>~` into the content and the listener subtracts.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::Res;

/// The client's own dialler: `wss://` with the shared TLS config, proxies as the client honours them.
pub use scitex_orochi::client::dial::Ws;

const CONNECT_WAIT: Duration = Duration::from_secs(30);
const CONNECT_CONCURRENCY: usize = 100;
const READ_BUFFER: usize = 8 * 1024;
/// Frames written per flush by a pipelining sender.
const SEND_BATCH: u64 = 64;

static EPOCH: OnceLock<Instant> = OnceLock::new();

pub fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Microseconds, up to one minute.
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub token: String,
}

/// Connects and registers `name` on `channels`, returning once the register ack arrived.
pub async fn connect(t: &Target, name: &str, channels: &[String]) -> Res<Ws> {
    // tungstenite's default 128 KiB read buffer is zero-filled on every read: keep it small so
    // the generator spends its CPU on frames. The dialler turns Nagle off: a paced sender must
    // not wait for ACKs.
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let mut request = t.url.as_str().into_client_request()?;
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {}", t.token))?);
    let (mut ws, _) = timeout(CONNECT_WAIT, scitex_orochi::client::dial::connect(request, Some(config))).await??;
    let id = format!("reg-{name}");
    let reg =
        json!({"type": "register", "sender": name, "id": id, "payload": {"channels": channels, "machine": "bench"}});
    ws.send(Message::text(reg.to_string())).await?;
    timeout(CONNECT_WAIT, async {
        while let Some(msg) = ws.next().await {
            let Message::Text(text) = msg? else { continue };
            let v: Value = serde_json::from_str(&text)?;
            match v["type"].as_str() {
                Some("ack") if v["payload"]["ref"] == id.as_str() => return Ok(()),
                Some("error") => return Err(format!("register {name} refused: {}", v["payload"]).into()),
                _ => {}
            }
        }
        Err::<(), crate::Error>(format!("socket closed before {name} registered").into())
    })
    .await??;
    Ok(ws)
}

/// Opens and registers many sockets with bounded concurrency, in order, handing each to `then` as soon
/// as it is registered (listeners must start reading at once to answer the hub's pings).
pub async fn connect_many<T>(t: &Target, who: Vec<(String, Vec<String>)>, then: impl Fn(Ws) -> T) -> Res<Vec<T>> {
    let then = &then;
    stream::iter(who)
        .map(|(name, channels)| async move { connect(t, &name, &channels).await.map(then) })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// Deliveries counted on one channel's listeners.
#[derive(Default)]
pub struct Tally {
    pub delivered: AtomicU64,
    pub last_ns: AtomicU64,
}

/// What one listener saw.
pub struct Heard {
    /// Created on the first delivery, so idle sockets cost no histogram.
    pub hist: Option<Histogram<u64>>,
    /// Why the hub closed it, if it did before the end.
    pub closed: Option<String>,
}

/// The send time a sender wrote into the content.
fn sent_ns(text: &str) -> Option<u64> {
    let start = text.find("~t")? + 2;
    let digits = text[start..].find(|c: char| !c.is_ascii_digit()).map_or(&text[start..], |n| &text[start..start + n]);
    digits.parse().ok()
}

/// Reads deliveries (answering pings by reading) until `stop`.
pub async fn listen(mut ws: Ws, tally: Arc<Tally>, mut stop: watch::Receiver<bool>) -> Heard {
    let mut heard = Heard { hist: None, closed: None };
    loop {
        let msg = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            m = ws.next() => m,
        };
        let closed = match msg {
            Some(Ok(Message::Text(text))) => {
                if let Some(sent) = sent_ns(&text) {
                    let now = now_ns();
                    heard.hist.get_or_insert_with(new_hist).saturating_record(now.saturating_sub(sent) / 1000);
                    tally.delivered.fetch_add(1, Relaxed);
                    tally.last_ns.fetch_max(now, Relaxed);
                }
                continue;
            }
            Some(Ok(Message::Close(c))) => c.map_or("close".into(), |c| format!("{} {}", u16::from(c.code), c.reason)),
            Some(Ok(_)) => continue,
            Some(Err(e)) => e.to_string(),
            None => "eof".into(),
        };
        heard.closed = Some(closed);
        break;
    }
    heard
}

/// Acks and errors one sender received.
#[derive(Default)]
pub struct Acks {
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub last_ns: AtomicU64,
    pub first_error: Mutex<Option<String>>,
}

/// The `type` of a frame without parsing it: both hubs write `type` first.
fn frame_type(text: &str) -> &str {
    let Some(i) = text.find("\"type\"") else { return "" };
    let rest = text[i + 6..].trim_start().strip_prefix(':').unwrap_or("").trim_start();
    rest.strip_prefix('"').and_then(|r| r.split('"').next()).unwrap_or("")
}

async fn count_acks(mut stream: SplitStream<Ws>, acks: Arc<Acks>, mut stop: watch::Receiver<bool>) {
    loop {
        let msg = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            m = stream.next() => m,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
            _ => return,
        };
        match frame_type(&text) {
            "ack" => {
                acks.acked.fetch_add(1, Relaxed);
                acks.last_ns.fetch_max(now_ns(), Relaxed);
            }
            "error" => {
                acks.errors.fetch_add(1, Relaxed);
                acks.first_error.lock().unwrap().get_or_insert_with(|| text.to_string());
            }
            _ => {}
        }
    }
}

/// How a sender spaces its messages.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Messages per second, one frame per tick.
    Rate(u32),
    /// Pipelined: at most this many messages not yet acked, nor delivered to the average
    /// listener of the channel (so the hub never has to cut a listener as a slow consumer).
    Window(u64),
}

pub struct Sender {
    pub ws: Ws,
    pub name: String,
    pub channel: String,
    /// Listeners on the channel and their tally, for the delivery window.
    pub listeners: u64,
    pub tally: Arc<Tally>,
}

fn message(name: &str, channel: &str, n: u64) -> Message {
    Message::text(format!(
        r#"{{"type":"message","sender":"{name}","id":"{name}-{n}","payload":{{"channel":"{channel}","content":"~t{}~"}}}}"#,
        now_ns()
    ))
}

/// Sends until `until`, then returns how many messages went out. Acks are counted into
/// `acks` by a reader task that runs until `stop`.
pub async fn send(s: Sender, pace: Pace, until: Instant, acks: Arc<Acks>, stop: watch::Receiver<bool>) -> Res<u64> {
    let (mut sink, stream) = s.ws.split();
    tokio::spawn(count_acks(stream, acks.clone(), stop));
    let mut sent = 0u64;
    let until = tokio::time::Instant::from_std(until);
    match pace {
        Pace::Rate(per_sec) => {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_sec)));
            while tokio::time::timeout_at(until, tick.tick()).await.is_ok() {
                sink.send(message(&s.name, &s.channel, sent)).await?;
                sent += 1;
            }
        }
        Pace::Window(window) => {
            while tokio::time::Instant::now() < until {
                let by_acks = sent.saturating_sub(acks.acked.load(Relaxed) + acks.errors.load(Relaxed));
                let by_delivery = match s.listeners {
                    0 => 0,
                    n => sent.saturating_sub(s.tally.delivered.load(Relaxed) / n),
                };
                let room = window.saturating_sub(by_acks.max(by_delivery));
                if room == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                for _ in 0..room.min(SEND_BATCH) {
                    sink.feed(message(&s.name, &s.channel, sent)).await?;
                    sent += 1;
                }
                sink.flush().await?;
            }
        }
    }
    // Dropping the write half leaves the socket open: the ack reader still owns the other half.
    Ok(sent)
}
