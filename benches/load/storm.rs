//! Scenario storm: a deploy as agents see it. N agents on channels, each through our client
//! library, a sender sending acked messages throughout, and the hub stopped with SIGTERM (every
//! socket closes with 1012) and started again on the same data folder and ports. It measures
//! how long after the new hub accepts connections every agent is registered again and has every
//! message it missed, and checks that every acked message reached every agent of its channel
//! once, in order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use scitex_orochi::client::{ClientOptions, OrochiClient};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Res;
use crate::hubs::{self, Hub, HubKind};
use crate::traffic::Target;

/// Agents per channel: a message reaches this many agents.
const PER_CHANNEL: usize = 100;
/// The sender's pace (200 msg/s, 20,000 deliveries/s): the storm, not fan-out, is measured.
const SEND_EVERY: Duration = Duration::from_millis(5);
/// Sending before the restart, so every agent has a position to resume from.
const WARM: Duration = Duration::from_secs(1);
const CONNECT_CONCURRENCY: usize = 100;
/// Waits for the last deliveries at most this long...
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// ...and gives up earlier when nothing arrives for this long.
const DRAIN_STALL: Duration = Duration::from_secs(5);
const SENDER: &str = "storm-sender";

fn channel(c: usize) -> String {
    format!("#storm-{c}")
}

fn options(t: &Target, name: &str, channels: Vec<String>) -> ClientOptions {
    let mut o = ClientOptions::new(t.url.clone(), t.token.clone(), name);
    o.channels = channels;
    o.machine = "storm".into();
    // The hub's own pings keep the sockets alive; figures collected 10,000 times would only
    // measure this generator.
    (o.heartbeat, o.ping) = (None, None);
    o
}

/// What one agent saw.
struct Seen {
    channel: usize,
    /// The sender's messages: (seq, when).
    got: Vec<(u64, Instant)>,
    /// When the client had registered again after the restart.
    back: Option<Instant>,
}

/// Reads the agent's messages until `stop`, noting when it reconnected.
async fn agent(client: OrochiClient, c: usize, delivered: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) -> Seen {
    let mut reconnects = client.reconnects();
    let mut seen = Seen { channel: c, got: Vec::new(), back: None };
    loop {
        tokio::select! {
            f = client.recv() => match f {
                Some(f) if f.sender == SENDER => {
                    seen.got.push((f.seq.unwrap_or(0), Instant::now()));
                    delivered.fetch_add(1, Relaxed);
                }
                Some(_) => {}
                None => break,
            },
            Ok(()) = reconnects.changed(), if seen.back.is_none() => seen.back = Some(Instant::now()),
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    client.close().await;
    seen
}

/// One acked message: its channel, place and when the ack arrived.
struct Acked {
    channel: usize,
    seq: u64,
    at: Instant,
}

/// Sends one message every [`SEND_EVERY`] round the channels until `stop`, each in its own task
/// so sends queue in the client while the hub is away; returns every ack.
async fn send_throughout(sender: Arc<OrochiClient>, channels: usize, mut stop: watch::Receiver<bool>) -> Res<Vec<Acked>> {
    let mut tick = tokio::time::interval(SEND_EVERY);
    let mut sends: Vec<JoinHandle<Res<Acked>>> = Vec::new();
    for n in 0.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let (sender, c) = (sender.clone(), n % channels);
        sends.push(tokio::spawn(async move {
            let r = sender.send(&channel(c), &format!("m{n}"), None).await?;
            Ok(Acked { channel: c, seq: r.seq, at: Instant::now() })
        }));
    }
    let mut acked = Vec::with_capacity(sends.len());
    for s in sends {
        acked.push(tokio::time::timeout(DRAIN_MAX, s).await.map_err(|_| "a send was never acked")???);
    }
    Ok(acked)
}

/// Per-agent outcome against the acked messages of its channel.
#[derive(Default)]
struct Verdict {
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    /// Time from the new hub accepting to this agent being back and caught up, per agent.
    back: Vec<Duration>,
    not_back: usize,
    /// When each agent registered again, after the new hub accepted.
    registered: Vec<Duration>,
    /// Messages agents missed and got by resuming.
    replayed: u64,
}

/// Checks what each agent saw against the acked messages of its channel.
fn verdict(seen: &[Seen], acked: &[Acked], terminated: Instant, accepting: Instant) -> Verdict {
    let mut by_channel: HashMap<usize, Vec<(u64, Instant)>> = HashMap::new();
    for a in acked {
        by_channel.entry(a.channel).or_default().push((a.seq, a.at));
    }
    let mut t = Verdict::default();
    for s in seen {
        let want = by_channel.get(&s.channel).map_or(&[][..], Vec::as_slice);
        let mut first: HashMap<u64, Instant> = HashMap::new();
        let mut top = 0;
        for &(seq, at) in &s.got {
            if first.contains_key(&seq) {
                t.duplicated += 1;
                continue;
            }
            if seq < top {
                t.out_of_order += 1;
            }
            top = top.max(seq);
            first.insert(seq, at);
        }
        let wanted: HashSet<u64> = want.iter().map(|(seq, _)| *seq).collect();
        t.lost += wanted.iter().filter(|seq| !first.contains_key(seq)).count() as u64;
        let Some(back) = s.back else {
            t.not_back += 1;
            continue;
        };
        t.registered.push(back.saturating_duration_since(accepting));
        // Missed: not received before the hub was told to stop, and acked before this agent
        // registered again (a later one may simply reach it live).
        let missed: Vec<Option<&Instant>> = want
            .iter()
            .filter(|(seq, at)| *at <= back && first.get(seq).is_none_or(|got| *got >= terminated))
            .map(|(seq, _)| first.get(seq))
            .collect();
        t.replayed += missed.len() as u64;
        if missed.iter().any(Option::is_none) {
            t.not_back += 1;
            continue;
        }
        let done = missed.into_iter().flatten().fold(back, |a, b| a.max(*b));
        t.back.push(done.saturating_duration_since(accepting));
    }
    t
}

/// Waits until `delivered` reaches `expected`, or nothing arrives for [`DRAIN_STALL`].
async fn drain(delivered: &AtomicU64, expected: u64) {
    let (start, mut last, mut moved) = (Instant::now(), delivered.load(Relaxed), Instant::now());
    while delivered.load(Relaxed) < expected && start.elapsed() < DRAIN_MAX && moved.elapsed() < DRAIN_STALL {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = delivered.load(Relaxed);
        if now != last {
            (last, moved) = (now, Instant::now());
        }
    }
}

/// Runs the storm and prints its one line.
pub async fn run(agents: usize, seconds: f64) -> Res<bool> {
    crate::warn_fd_limit(agents + 1);
    let mut hub = Hub::launch(&HubKind::Rust).await?;
    let channels = agents.div_ceil(PER_CHANNEL).max(1);
    eprintln!("scenario storm: {agents} agents on {channels} channels through OrochiClient, 1 sender at 200 msg/s, SIGTERM + relaunch");
    let outcome = storm(&mut hub, agents, channels, seconds).await;
    hub.stop().await;
    let t = outcome?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for d in &t.back {
        hist.saturating_record(d.as_micros() as u64);
    }
    let worst = t.back.iter().max().copied().unwrap_or_default();
    let mut registered = t.registered.clone();
    registered.sort();
    if !registered.is_empty() {
        let at = |q: f64| registered[((registered.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
        eprintln!(
            "storm: registered again after the new hub accepted: first {:.0} ms, p50 {:.0}, p90 {:.0}, p99 {:.0}, last {:.0}; {} missed messages replayed",
            at(0.0),
            at(0.5),
            at(0.9),
            at(0.99),
            at(1.0),
            t.replayed
        );
    }
    let mut line = format!(
        "storm: {} agents back in {:.2} s (p99 per agent {:.0} ms), lost {}, duplicated {}",
        t.back.len(),
        worst.as_secs_f64(),
        hist.value_at_quantile(0.99) as f64 / 1e3,
        t.lost,
        t.duplicated
    );
    if t.out_of_order > 0 {
        line.push_str(&format!(", out of order {}", t.out_of_order));
    }
    if t.not_back > 0 {
        line.push_str(&format!(", not back {}", t.not_back));
    }
    println!("{line}");
    Ok(t.lost == 0 && t.duplicated == 0 && t.out_of_order == 0 && t.not_back == 0)
}

async fn storm(hub: &mut Hub, agents: usize, channels: usize, seconds: f64) -> Res<Verdict> {
    let target = hub.target.clone();
    let (stop_tx, stop) = watch::channel(false);
    let delivered = Arc::new(AtomicU64::new(0));
    let opened = Instant::now();
    let listening: Vec<JoinHandle<Seen>> = stream::iter(0..agents)
        .map(|i| {
            let (target, delivered, stop) = (&target, delivered.clone(), stop.clone());
            async move {
                let c = i % channels;
                let client = OrochiClient::connect(options(target, &format!("storm-agent-{i}"), vec![channel(c)])).await?;
                Ok::<_, crate::Error>(tokio::spawn(agent(client, c, delivered, stop)))
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await?;
    eprintln!("storm: {agents} agents registered in {:.1} s", opened.elapsed().as_secs_f64());

    let sender = Arc::new(OrochiClient::connect(options(&target, SENDER, Vec::new())).await?);
    let (stop_sending_tx, stop_sending) = watch::channel(false);
    let sending = tokio::spawn(send_throughout(sender.clone(), channels, stop_sending));
    let warm = Cpu::read(hub.pid);
    tokio::time::sleep(WARM).await;
    let steady = Cpu::read(hub.pid).since(warm);

    let terminated = Instant::now();
    let accepting = hub.restart().await?;
    eprintln!("storm: SIGTERM to accepting again {:.0} ms", (accepting - terminated).as_secs_f64() * 1e3);
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let samples = {
        let (pid, stop) = (hub.pid, stop_sampling.clone());
        std::thread::spawn(move || sample_cpu(pid, &stop))
    };
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let _ = stop_sending_tx.send(true);
    let acked = sending.await??;
    sender.close().await;

    // Agent i is on channel i % channels.
    let expected = acked.iter().map(|a| (agents - a.channel).div_ceil(channels) as u64).sum();
    drain(&delivered, expected).await;
    let _ = stop_tx.send(true);
    let mut seen = Vec::with_capacity(agents);
    for l in listening {
        seen.push(l.await?);
    }
    stop_sampling.store(true, Relaxed);
    let samples = samples.join().map_err(|_| "the CPU sampler panicked")?;
    let t = verdict(&seen, &acked, terminated, accepting);
    report_cpu(&samples, &t, agents, steady, accepting);
    Ok(t)
}

/// CPU seconds of the hub and of this generator (which includes the sender).
#[derive(Clone, Copy, Default)]
struct Cpu {
    hub: f64,
    generator: f64,
}

impl Cpu {
    fn read(hub: Option<u32>) -> Cpu {
        Cpu { hub: hub.and_then(hubs::cpu_secs).unwrap_or(0.0), generator: hubs::cpu_secs(std::process::id()).unwrap_or(0.0) }
    }

    fn since(self, earlier: Cpu) -> Cpu {
        Cpu { hub: self.hub - earlier.hub, generator: self.generator - earlier.generator }
    }
}

/// How often the CPU of both processes is read while agents come back.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// (when, hub CPU, generator CPU) every [`SAMPLE_EVERY`] until `stop`. On a thread of its own:
/// a task on the generator's busy runtime would be starved exactly when it matters.
fn sample_cpu(hub: Option<u32>, stop: &AtomicBool) -> Vec<(Instant, f64, f64)> {
    let mut samples = Vec::new();
    while !stop.load(Relaxed) {
        let c = Cpu::read(hub);
        samples.push((Instant::now(), c.hub, c.generator));
        std::thread::sleep(SAMPLE_EVERY);
    }
    samples
}

/// The CPU both processes spent from the new hub accepting until the last agent was back, per
/// agent, all included (the sender's traffic too); the steady rate of that traffic, measured
/// before the restart, is printed beside it rather than subtracted: during the storm it is not
/// steady (sends queued while the hub was away, replays).
fn report_cpu(samples: &[(Instant, f64, f64)], t: &Verdict, agents: usize, steady: Cpu, accepting: Instant) {
    let (Some(worst), Some(&(start, h0, g0))) = (t.back.iter().max(), samples.first()) else { return };
    let after = |d: Duration| samples.iter().find(|(at, ..)| *at >= start + d).or(samples.last());
    if let Some(&(_, h, g)) = after(Duration::from_secs(5)) {
        eprintln!("storm: CPU in the 5 s after the relaunch: hub {:.1} s, generator {:.1} s", h - h0, g - g0);
    }
    let Some(&(end, h1, g1)) = samples.iter().find(|(at, ..)| *at >= accepting + *worst).or(samples.last()) else { return };
    let per_agent = |used: f64| used / agents as f64 * 1e6;
    eprintln!(
        "storm: CPU until the last agent was back ({:.2} s): hub {:.2} s, generator {:.2} s, i.e. per agent hub {:.0} us, generator {:.0} us, \
         all included (before the restart the sender's traffic alone took hub {:.2}, generator {:.2} CPU-s/s)",
        (end - start).as_secs_f64(),
        h1 - h0,
        g1 - g0,
        per_agent(h1 - h0),
        per_agent(g1 - g0),
        steady.hub / WARM.as_secs_f64(),
        steady.generator / WARM.as_secs_f64(),
    );
}
