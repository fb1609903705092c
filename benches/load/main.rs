//! Load generator for the hub: fan-out throughput, latency at a fixed rate, many idle sockets,
//! durable acks, and a restart storm (scenario `storm`, run on its own: it restarts the hub). Targets our hub (default, started fresh for each scenario), the Python
//! reference hub (`--python`, scenario a) or any hub (`--url`). All traffic stays on 127.0.0.1
//! unless `--url` says otherwise; every phase is bounded in time.
//!
//! `cargo bench --bench load -- --scenario all`, `cargo bench --bench load -- --python --scenario a`,
//! `cargo bench --bench load -- --scenario storm --agents 10000`,
//! `cargo bench --bench load -- --store both` (our hub on SQLite and on PostgreSQL 15, needs
//! `initdb`/`pg_ctl` and root, as the PostgreSQL tests do), `cargo bench --bench load -- --store
//! replicas --scenario a` (a sender on one replica, its subscribers on another).

mod hubs;
/// The PostgreSQL server of the tests (initdb and pg_ctl as the postgres user, on a loopback
/// port), shared with them rather than copied; the generator uses only its private servers.
#[path = "../../tests/support/pg.rs"]
#[allow(dead_code)]
mod pg_server;
mod run;
mod storm;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, ValueEnum};

use hubs::{Hub, HubKind};
use pg_server::PgServer;
use run::{Outcome, Plan};
use traffic::{Pace, Target};

/// The binary's allocator (see src/main.rs): this process is also the hub it measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, Error>;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    A,
    B,
    C,
    D,
    /// e-calm and e-flood.
    E,
    /// a to e (not storm).
    All,
    /// N agents through our client across a SIGTERM and relaunch of the hub.
    Storm,
}

#[derive(Parser)]
#[command(about = "Load generator for the scitex-orochi hub")]
struct Args {
    /// Scenario to run; `a` includes a-lat.
    #[arg(long, value_enum, default_value = "all")]
    scenario: Which,
    /// How long senders send, per scenario.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Benchmark this hub instead of starting ours: its agent socket URL as it is, `ws://` or
    /// `wss://` (e.g. `wss://orochi.example.org/ws/agent/`; TLS and proxies as the client's).
    #[arg(long)]
    url: Option<String>,
    #[arg(long, env = "SCITEX_OROCHI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PID of the `--url` hub, to read its RSS and CPU time.
    #[arg(long)]
    hub_pid: Option<u32>,
    /// Also run a and a-lat on the Python reference hub 0.13.0 (from .venv-ref) and print the ratios.
    #[arg(long)]
    python: bool,
    /// Messages a pipelining sender keeps in flight.
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Idle sockets in scenario c.
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Agents in scenario storm.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Our hub's store: sqlite, postgres (a PostgreSQL 15 server this generator starts, fsync
    /// on, a new database per scenario), both (each scenario on SQLite, then on PostgreSQL) or
    /// replicas (each scenario on one hub on PostgreSQL, then on two replicas of one database
    /// with the senders on the first and the subscribers on the second).
    #[arg(long, value_enum, default_value = "sqlite")]
    store: StoreChoice,
    /// Internal: serve our hub with its data in this folder (the child process).
    #[arg(long, hide = true)]
    serve_hub: Option<PathBuf>,
    /// Internal: the child's PostgreSQL URL.
    #[arg(long, hide = true)]
    serve_db: Option<String>,
    /// Internal: the child's agent and REST ports, 0 for ephemeral ones.
    #[arg(long, hide = true, value_delimiter = ',', default_values_t = [0, 0])]
    serve_ports: Vec<u16>,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreChoice {
    Sqlite,
    Postgres,
    Both,
    Replicas,
}

struct Scenario {
    tag: &'static str,
    what: String,
    plan: Plan,
}

fn scenarios(args: &Args) -> Vec<Scenario> {
    let (secs, window) = (args.seconds, Pace::Window(args.window));
    let plan = |senders, listeners, idle, pace| Plan { senders, listeners, idle, pace, seconds: secs, flooders: 0 };
    let all = [
        ("a", "1 pipelined sender -> 100 subscribers, 1 channel".to_string(), plan(1, 100, 0, window)),
        (
            "a-lat",
            "1 sender at 100 msg/s -> 100 subscribers (10k deliveries/s)".into(),
            plan(1, 100, 0, Pace::Rate(100)),
        ),
        ("b", "10 pipelined senders -> 100 subscribers each, 10 channels".into(), plan(10, 100, 0, window)),
        (
            "c",
            format!("{} idle sockets + 1 sender at 100 msg/s -> 10 subscribers", args.idle),
            plan(1, 10, args.idle, Pace::Rate(100)),
        ),
        ("d", "10 pipelined senders, no subscribers: durable acks".into(), plan(10, 0, 0, window)),
        ("e-calm", "1 sender at 100 msg/s -> 100 subscribers, no flood".into(), plan(1, 100, 0, Pace::Rate(100))),
        (
            "e-flood",
            "the same while 1 workspace-token agent floods a channel of its own, pipelined".into(),
            Plan { flooders: 1, ..plan(1, 100, 0, Pace::Rate(100)) },
        ),
    ];
    let wanted = |tag: &str| match args.scenario {
        Which::All => true,
        Which::A => tag.starts_with('a'),
        Which::B => tag == "b",
        Which::C => tag == "c",
        Which::D => tag == "d",
        Which::E => tag.starts_with('e'),
        Which::Storm => false,
    };
    all.into_iter().filter(|(tag, ..)| wanted(tag)).map(|(tag, what, plan)| Scenario { tag, what, plan }).collect()
}

struct Row {
    tag: &'static str,
    hub: &'static str,
    out: Outcome,
}

/// Each scenario gets a fresh hub so RSS and history start from the same state.
async fn run_on(kind: &HubKind, s: &Scenario) -> Res<Row> {
    let hub = Hub::launch(kind).await?;
    let label = hub.label;
    eprintln!("scenario {:<5} on {label} hub: {}", s.tag, s.what);
    let out = run::run(s.tag, &s.plan, &hub).await;
    hub.stop().await;
    Ok(Row { tag: s.tag, hub: label, out: out? })
}

/// Warns when `conns` sockets (and some slack) would not fit under the open-file limit.
pub fn warn_fd_limit(conns: usize) {
    let need = conns as u64 + 200;
    if let Some(limit) = hubs::open_file_limit().filter(|l| *l < need) {
        eprintln!("warning: open-file limit {limit} < {need} needed; run `ulimit -n {need}` first");
    }
}

async fn bench(args: Args) -> Res<bool> {
    if args.scenario == Which::Storm {
        if args.url.is_some() || args.store != StoreChoice::Sqlite {
            return Err("storm restarts the hub: it runs on ours on SQLite only (no --url, no --store)".into());
        }
        return storm::run(args.agents, args.seconds).await;
    }
    let kinds = match (&args.url, args.store) {
        (Some(url), _) => {
            let token = args.token.clone().ok_or("--url needs --token or SCITEX_OROCHI_TOKEN")?;
            vec![HubKind::External { target: Target { url: url.clone(), token }, pid: args.hub_pid }]
        }
        (None, StoreChoice::Sqlite) => vec![HubKind::Rust],
        (None, store) => {
            eprintln!("starting a PostgreSQL 15 server (initdb, fsync on)");
            let server = Arc::new(tokio::task::spawn_blocking(PgServer::private_durable).await?);
            let pg = HubKind::RustPostgres(server.clone());
            match store {
                StoreChoice::Both => vec![HubKind::Rust, pg],
                StoreChoice::Replicas => vec![pg, HubKind::RustReplicas(server)],
                _ => vec![pg],
            }
        }
    };
    let list = scenarios(&args);
    warn_fd_limit(list.iter().map(|s| s.plan.conns()).max().unwrap_or(0));
    // Each scenario's rows side by side: SQLite's, then PostgreSQL's.
    let mut runs: Vec<(&HubKind, &Scenario)> = list.iter().flat_map(|s| kinds.iter().map(move |k| (k, s))).collect();
    if args.python {
        runs.extend(list.iter().filter(|s| s.tag.starts_with('a')).map(|s| (&HubKind::Python, s)));
    }
    let (mut rows, mut ok) = (Vec::new(), true);
    for (kind, s) in runs {
        match run_on(kind, s).await {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("scenario {} failed: {e}", s.tag);
                ok = false;
            }
        }
    }
    print_report(&list, &rows);
    Ok(ok)
}

const HEADER: [&str; 13] = [
    "scen",
    "hub",
    "conns",
    "open s",
    "sent",
    "acks/s",
    "deliv/s",
    "p50 ms",
    "p99 ms",
    "RSS KiB/c",
    "hub CPU",
    "gen CPU",
    "lost",
];

fn print_line(cells: &[String]) {
    let cells: Vec<String> = cells
        .iter()
        .zip(HEADER)
        .enumerate()
        .map(|(i, (c, h))| if i < 2 { format!("{c:<7}") } else { format!("{c:>w$}", w = h.len().max(8)) })
        .collect();
    println!("{}", cells.join(" "));
}

fn cells(r: &Row) -> Vec<String> {
    let o = &r.out;
    let num = |v: Option<f64>, decimals: usize| v.map_or("-".into(), |v| format!("{v:.decimals$}"));
    let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}%"));
    let ms = |q: f64| (!o.hist.is_empty()).then(|| o.hist.value_at_quantile(q) as f64 / 1000.0);
    vec![
        r.tag.into(),
        r.hub.into(),
        o.conns.to_string(),
        format!("{:.1}", o.open_secs),
        o.sent.to_string(),
        format!("{:.0}", o.acks_per_sec),
        format!("{:.0}", o.deliveries_per_sec),
        num(ms(0.5), 2),
        num(ms(0.99), 2),
        num(o.rss_per_conn_kib, 1),
        pct(o.hub_cpu_pct),
        pct(o.gen_cpu_pct),
        o.lost.to_string(),
    ]
}

fn print_report(list: &[Scenario], rows: &[Row]) {
    println!();
    for s in list {
        println!("  {:<6} {}", s.tag, s.what);
    }
    println!();
    print_line(&HEADER.map(String::from));
    for r in rows {
        print_line(&cells(r));
    }
    for r in rows {
        let (o, at) = (&r.out, format!("{} on {}", r.tag, r.hub));
        if let Some(e) = &o.first_error {
            println!("note {at}: {} error replies, first: {e}", o.errors);
        }
        if o.deliveries < o.expected {
            println!("note {at}: only {} of {} deliveries arrived", o.deliveries, o.expected);
        }
        if let Some(reason) = &o.lost_reason {
            println!("note {at}: the hub closed {} sockets, first: {reason}", o.lost);
        }
        if let Some(f) = &o.flood {
            println!("note {at}: the flooder sent {}: {} stored, {} RATE_LIMITED", f.sent, f.stored, f.limited);
        }
    }
    let p99 = |tag: &str| rows.iter().find(|r| r.tag == tag && !r.out.hist.is_empty()).map(|r| r.out.hist.value_at_quantile(0.99) as f64 / 1000.0);
    if let (Some(calm), Some(flood)) = (p99("e-calm"), p99("e-flood")) {
        println!("flood: subscribers' p99 {calm:.2} ms without the flood, {flood:.2} ms with it");
    }
    for p in rows.iter().filter(|r| r.hub == "python") {
        if let Some(r) = rows.iter().find(|r| r.tag == p.tag && r.hub != "python") {
            let p99 = |o: &Outcome| o.hist.value_at_quantile(0.99) as f64;
            let speed = r.out.deliveries_per_sec / p.out.deliveries_per_sec;
            println!(
                "ratio {:<5}: rust/python deliveries/s = {speed:.2}x, python/rust p99 = {:.2}x",
                p.tag,
                p99(&p.out) / p99(&r.out)
            );
        }
    }
    for p in rows.iter().filter(|r| r.hub == "rust-pg") {
        if let Some(r) = rows.iter().find(|r| r.tag == p.tag && r.hub == "rust") {
            let deliveries = match r.out.deliveries_per_sec > 0.0 {
                true => format!(", deliveries/s = {:.2}x", p.out.deliveries_per_sec / r.out.deliveries_per_sec),
                false => String::new(),
            };
            println!("store {:<6}: postgres/sqlite acks/s = {:.2}x{deliveries}", p.tag, p.out.acks_per_sec / r.out.acks_per_sec);
        }
    }
    for p in rows.iter().filter(|r| r.hub == "rust-pg2") {
        if let Some(r) = rows.iter().find(|r| r.tag == p.tag && r.hub == "rust-pg" && !r.out.hist.is_empty() && !p.out.hist.is_empty()) {
            let p99 = |o: &Outcome| o.hist.value_at_quantile(0.99) as f64 / 1000.0;
            println!(
                "replicas {:<5}: deliveries/s {:.0} across replicas vs {:.0} on one hub; p99 {:.2} ms vs {:.2} ms",
                p.tag,
                p.out.deliveries_per_sec,
                r.out.deliveries_per_sec,
                p99(&p.out),
                p99(&r.out)
            );
        }
    }
    println!("rust: our hub on SQLite (synchronous=full); rust-pg: on PostgreSQL 15 on this machine (fsync on; hub CPU leaves out the server's); rust-pg2: two replicas on it, senders on one, subscribers on the other (RSS and CPU of both).");
    println!("p50/p99: send to receipt; pipelined rows include the wait inside the sender's window.");
    println!("RSS KiB/c: hub RSS growth per socket opened (per idle socket in c).");
    println!("CPU: % of one core (of 2) while sending and draining; gen = this generator, which shares the machine.");
}

fn main() -> Res<()> {
    let args = Args::parse();
    if let Some(dir) = &args.serve_hub {
        let [ws, http] = args.serve_ports[..] else { return Err("--serve-ports takes WS,HTTP".into()) };
        return hubs::serve_rust_hub(dir, args.serve_db.as_deref(), (ws, http));
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // On Ctrl-C the bench future is dropped, and with it the hub children (kill on drop).
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
        Err::<bool, Error>("interrupted".into())
    };
    let run = async {
        tokio::select! { r = bench(args) => r, r = interrupted => r }
    };
    if !rt.block_on(run)? {
        std::process::exit(1);
    }
    Ok(())
}
