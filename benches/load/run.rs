//! One scenario on one hub: open the sockets (measuring the hub's RSS around that), drive the
//! senders for the planned time, drain, and turn the counters into an [`Outcome`].

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Res;
use crate::hubs::{self, Hub};
use crate::traffic::{self, Acks, Heard, Pace, Sender, Tally, Target, connect_many, listen, new_hist};

/// Waits for stragglers after the senders stop: at most this long overall...
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// ...and gives up earlier when nothing moves for this long.
const DRAIN_STALL: Duration = Duration::from_secs(3);

pub struct Plan {
    /// Each sender has its own channel.
    pub senders: usize,
    /// Subscribers on each sender's channel.
    pub listeners: usize,
    /// Registered sockets on a channel nobody writes to.
    pub idle: usize,
    pub pace: Pace,
    pub seconds: f64,
    /// Agents with a workspace token sending pipelined to a channel nobody reads, meanwhile.
    pub flooders: usize,
}

impl Plan {
    pub fn conns(&self) -> usize {
        self.idle + self.senders * (self.listeners + 1) + self.flooders
    }
}

/// What the flooders sent and how it was answered.
#[derive(Default)]
pub struct Flood {
    pub sent: u64,
    pub stored: u64,
    pub limited: u64,
}

pub struct Outcome {
    pub conns: usize,
    pub open_secs: f64,
    pub sent: u64,
    pub acks_per_sec: f64,
    pub deliveries: u64,
    /// Deliveries owed: messages sent times subscribers on their channel.
    pub expected: u64,
    pub deliveries_per_sec: f64,
    /// End-to-end latency in microseconds.
    pub hist: Histogram<u64>,
    /// Hub RSS growth per opened socket (per idle socket when there are idle ones).
    pub rss_per_conn_kib: Option<f64>,
    pub hub_cpu_pct: Option<f64>,
    /// This generator's own CPU over the same time: near 200% on two cores means the
    /// figures measure the generator, not the hub.
    pub gen_cpu_pct: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Listeners the hub closed during the run, and the first reason.
    pub lost: usize,
    pub lost_reason: Option<String>,
    pub flood: Option<Flood>,
}

fn per_sec(count: u64, start_ns: u64, last_ns: u64) -> f64 {
    if count == 0 || last_ns <= start_ns { 0.0 } else { count as f64 / ((last_ns - start_ns) as f64 / 1e9) }
}

pub async fn run(tag: &str, plan: &Plan, hub: &Hub) -> Res<Outcome> {
    let t = &hub.target;
    // Listeners connect to the replica when there is one; figures sum both processes.
    let listen_at = hub.replica.as_ref().map_or(t, |r| &r.target);
    let pids = hub.pids();
    let sum = |read: fn(u32) -> Option<f64>| (!pids.is_empty()).then(|| pids.iter().map(|p| read(*p)).sum::<Option<f64>>()).flatten();
    let rss = || sum(|pid| hubs::rss_kib(pid).map(|k| k as f64)).map(|k| k as u64);
    let cpu = || (sum(hubs::cpu_secs), hubs::cpu_secs(std::process::id()));
    // Unique names: a hub remembers channel membership by agent name.
    let prefix = format!("bench{}-{tag}", std::process::id());
    let (stop_tx, stop) = watch::channel(false);
    let spawn_listener = |tally: &Arc<Tally>| {
        let (tally, stop) = (tally.clone(), stop.clone());
        move |ws| tokio::spawn(listen(ws, tally.clone(), stop.clone()))
    };

    let opened = Instant::now();
    let rss0 = rss();
    let silent = Arc::new(Tally::default());
    let who = (0..plan.idle).map(|i| (format!("{prefix}-idle-{i}"), vec![format!("#bench-{tag}-silent")])).collect();
    let mut listeners: Vec<JoinHandle<Heard>> = connect_many(listen_at, who, spawn_listener(&silent)).await?;
    let rss_idle = rss();
    let tallies: Vec<Arc<Tally>> = (0..plan.senders).map(|_| Arc::default()).collect();
    for (c, tally) in tallies.iter().enumerate() {
        let who = (0..plan.listeners)
            .map(|i| (format!("{prefix}-c{c}-sub-{i}"), vec![format!("#bench-{tag}-{c}")]))
            .collect();
        listeners.extend(connect_many(listen_at, who, spawn_listener(tally)).await?);
    }
    let who = (0..plan.senders).map(|c| (format!("{prefix}-send-{c}"), Vec::new())).collect();
    let sockets = connect_many(t, who, |ws| ws).await?;
    let flooders = match plan.flooders {
        0 => Vec::new(),
        n => {
            let http = hub.http.as_deref().ok_or("flooding needs a hub this generator starts (for a workspace token)")?;
            let flood_target = Target { url: t.url.clone(), token: hubs::workspace_token(http, &t.token).await? };
            let who = (0..n).map(|f| (format!("{prefix}-flood-{f}"), Vec::new())).collect();
            connect_many(&flood_target, who, |ws| ws).await?
        }
    };
    let rss_all = rss();
    let open_secs = opened.elapsed().as_secs_f64();
    let rss_per_conn_kib = match (rss0, rss_idle, rss_all) {
        (Some(a), Some(b), _) if plan.idle > 0 => Some(b.saturating_sub(a) as f64 / plan.idle as f64),
        (Some(a), _, Some(c)) => Some(c.saturating_sub(a) as f64 / plan.conns() as f64),
        _ => None,
    };

    let (cpu0, started, start_ns) = (cpu(), Instant::now(), traffic::now_ns());
    let until = started + Duration::from_secs_f64(plan.seconds);
    let acks: Vec<Arc<Acks>> = (0..plan.senders).map(|_| Arc::default()).collect();
    let mut sends = Vec::new();
    for (c, ws) in sockets.into_iter().enumerate() {
        let s = Sender {
            ws,
            name: format!("{prefix}-send-{c}"),
            channel: format!("#bench-{tag}-{c}"),
            listeners: plan.listeners as u64,
            tally: tallies[c].clone(),
        };
        sends.push(tokio::spawn(traffic::send(s, plan.pace, until, acks[c].clone(), stop.clone())));
    }
    let flood_acks: Vec<Arc<Acks>> = (0..plan.flooders).map(|_| Arc::default()).collect();
    let mut floods = Vec::new();
    for (f, ws) in flooders.into_iter().enumerate() {
        let s = Sender {
            ws,
            name: format!("{prefix}-flood-{f}"),
            channel: format!("#bench-{tag}-flood"),
            listeners: 0,
            tally: Arc::default(),
        };
        floods.push(tokio::spawn(traffic::send(s, Pace::Window(1000), until, flood_acks[f].clone(), stop.clone())));
    }
    let mut sent = 0;
    for h in sends {
        sent += h.await??;
    }
    let mut flood = (plan.flooders > 0).then(Flood::default);
    for h in floods {
        let n = h.await??;
        flood.get_or_insert_default().sent += n;
    }
    drain(sent, sent * plan.listeners as u64, &acks, &tallies).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu1 = cpu();
    let pct = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / wall * 100.0);
    if let Some(f) = &mut flood {
        f.stored = flood_acks.iter().map(|a| a.acked.load(Relaxed)).sum();
        f.limited = flood_acks.iter().map(|a| a.errors.load(Relaxed)).sum();
    }
    let _ = stop_tx.send(true);

    let mut hist = new_hist();
    let (mut lost, mut lost_reason) = (0, None);
    for h in listeners {
        let heard = h.await?;
        if let Some(hh) = &heard.hist {
            hist.add(hh)?;
        }
        if let Some(reason) = heard.closed {
            lost += 1;
            lost_reason.get_or_insert(reason);
        }
    }
    let deliveries = tallies.iter().map(|t| t.delivered.load(Relaxed)).sum();
    let last_delivery = tallies.iter().map(|t| t.last_ns.load(Relaxed)).max().unwrap_or(0);
    let acked = acks.iter().map(|a| a.acked.load(Relaxed)).sum();
    let last_ack = acks.iter().map(|a| a.last_ns.load(Relaxed)).max().unwrap_or(0);
    Ok(Outcome {
        conns: plan.conns(),
        open_secs,
        sent,
        acks_per_sec: per_sec(acked, start_ns, last_ack),
        deliveries,
        expected: sent * plan.listeners as u64,
        deliveries_per_sec: per_sec(deliveries, start_ns, last_delivery),
        hist,
        rss_per_conn_kib,
        hub_cpu_pct: pct(cpu0.0, cpu1.0),
        gen_cpu_pct: pct(cpu0.1, cpu1.1),
        errors: acks.iter().map(|a| a.errors.load(Relaxed)).sum(),
        first_error: acks.iter().find_map(|a| a.first_error.lock().unwrap().clone()),
        lost,
        lost_reason,
        flood,
    })
}

/// Waits until every message is answered and delivered, or nothing moves any more.
async fn drain(replies: u64, deliveries: u64, acks: &[Arc<Acks>], tallies: &[Arc<Tally>]) {
    let progress = || {
        let answered: u64 = acks.iter().map(|a| a.acked.load(Relaxed) + a.errors.load(Relaxed)).sum();
        let delivered: u64 = tallies.iter().map(|t| t.delivered.load(Relaxed)).sum();
        (answered, delivered)
    };
    let start = Instant::now();
    let (mut last, mut moved) = (progress(), Instant::now());
    while start.elapsed() < DRAIN_MAX && moved.elapsed() < DRAIN_STALL {
        let now = progress();
        if now.0 >= replies && now.1 >= deliveries {
            return;
        }
        if now != last {
            (last, moved) = (now, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
