//! `deploy stable|dev|plan|status|rollback|logs|purge-cache|compose`: the deploy controller.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use clap::{Args, Subcommand};
use futures_util::StreamExt;

use super::{CliError, CliResult, print_json};
use crate::config::Config;
use crate::deploy::replicas::engine_url;
use crate::deploy::{ApplyOptions, Controller, DeployError, Outcome, Spec, compose, docker, envfile::EnvFile, purge};

const DEPLOY_HELP: &str = "Desired state: deploy/instances.toml (found from the working directory upwards, or --spec) and env/<instance>.env.

Examples:
  scitex-orochi deploy plan stable          # diff desired vs running; exit 0 in sync, 1 differs
  scitex-orochi deploy stable --dry-run     # print the plan, touch nothing
  scitex-orochi deploy stable --yes --timings
  scitex-orochi deploy dev
  scitex-orochi deploy status --json
  scitex-orochi deploy rollback stable
  scitex-orochi deploy logs dev --follow
  scitex-orochi deploy purge-cache stable --all

Exit codes: 0 ok, 1 failure, 2 usage (deploy plan: 0 in sync, 1 differs, 2 error), 3 Docker engine unreachable, 4 health gate failed (the previous container serves again), 5 env file invalid (nothing touched), 6 another deploy of the instance is running, 7 deployed but the cache purge failed.";

/// Deploy and operate the hub instances (stable, dev) through the Docker Engine API.
#[derive(Args, Debug)]
#[command(after_help = DEPLOY_HELP)]
pub struct DeployArgs {
    /// Instance specs (default: deploy/instances.toml here or in a parent folder).
    #[arg(long, global = true, value_name = "PATH")]
    pub spec: Option<PathBuf>,
    #[command(subcommand)]
    pub action: DeployAction,
}

#[derive(Subcommand, Debug)]
pub enum DeployAction {
    /// Deploy the stable instance: validate env, build or reuse the image, cut over, health gate.
    #[command(after_help = "Examples:\n  scitex-orochi deploy stable --yes\n  scitex-orochi deploy stable --dry-run --json\n\nExit codes: 0 deployed or in sync, 1 failure, 2 usage, 3 Docker unreachable, 4 health gate failed (previous restored), 5 env invalid, 6 locked, 7 purge failed.")]
    Stable(ApplyArgs),
    /// Deploy the dev instance (wired to stable from the specs).
    #[command(after_help = "Examples:\n  scitex-orochi deploy dev --yes --timings\n\nExit codes: as for deploy stable.")]
    Dev(ApplyArgs),
    /// Deploy any instance the spec declares.
    #[command(after_help = "Examples:\n  scitex-orochi deploy apply staging --yes\n\nExit codes: as for deploy stable.")]
    Apply {
        instance: String,
        #[command(flatten)]
        args: ApplyArgs,
    },
    /// Diff desired and running: image, env hash, ports, mounts, labels.
    #[command(after_help = "Examples:\n  scitex-orochi deploy plan stable\n  scitex-orochi deploy plan dev --json | jq .changes\n\nExit codes: 0 in sync, 1 differs, 2 error.")]
    Plan(PlanArgs),
    /// Each replica of each instance: container, engine, state, health, version, image, uptime, ports, drift.
    #[command(after_help = "Examples:\n  scitex-orochi deploy status\n  scitex-orochi deploy status --json\n\nExit codes: 0 ok, 1 failure, 3 Docker unreachable.")]
    Status(JsonArgs),
    /// Return to the previous image through the same health gate.
    #[command(after_help = "Examples:\n  scitex-orochi deploy rollback stable --yes\n  scitex-orochi deploy rollback dev --to scitex-orochi:0.1.0-1a2b3c4d5e6f\n\nExit codes: as for deploy stable; 1 when there is no previous image.")]
    Rollback(RollbackArgs),
    /// Stream a container's output.
    #[command(after_help = "Examples:\n  scitex-orochi deploy logs stable --tail 50\n  scitex-orochi deploy logs dev --follow\n  scitex-orochi deploy logs stable --replica 1\n\nExit codes: 0 ok, 1 failure, 2 no such replica, 3 Docker unreachable.")]
    Logs(LogsArgs),
    /// Purge the instance's changed public URLs from Cloudflare (--all: every cached path).
    #[command(after_help = "Examples:\n  scitex-orochi deploy purge-cache stable\n  scitex-orochi deploy purge-cache stable --all --dry-run\n\nCredentials: SCITEX_OROCHI_CLOUDFLARE_API_TOKEN and _ZONE_ID from the environment or the env file.\nExit codes: 0 purged or skipped, 1 failure, 2 usage.")]
    PurgeCache(PurgeArgs),
    /// Print the compose file equivalent to an instance spec (compose/<instance>.yml).
    #[command(after_help = "Examples:\n  scitex-orochi deploy compose stable > compose/stable.yml\n\nExit codes: 0 ok, 1 failure, 2 usage.")]
    Compose { instance: String },
    /// Run by the port holder container: keep its network namespace until stopped.
    #[command(hide = true)]
    Hold,
}

#[derive(Args, Debug, Default)]
pub struct ApplyArgs {
    /// Print the outcome as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Print the plan and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before replacing a running container.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace the container even when it is in sync.
    #[arg(long)]
    pub force: bool,
    /// Skip the Cloudflare purge.
    #[arg(long)]
    pub no_purge: bool,
    /// Print the cut-over gap and the time to healthy.
    #[arg(long)]
    pub timings: bool,
    /// Deploy this existing image instead of packaging the binary.
    #[arg(long, value_name = "TAG")]
    pub image: Option<String>,
    /// Package this static binary (default: this executable).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Health-gate deadline in seconds (default: the spec's health_deadline_secs).
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<f64>,
}

impl ApplyArgs {
    fn options(&self) -> ApplyOptions {
        ApplyOptions {
            image: self.image.clone(),
            binary: self.binary.clone(),
            dry_run: self.dry_run,
            force: self.force,
            no_purge: self.no_purge,
            deadline: self.deadline.map(|s| Duration::from_secs_f64(s.max(0.1))),
        }
    }
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    pub instance: String,
    #[arg(long)]
    pub json: bool,
    /// Compare against this image instead of the one the binary would give.
    #[arg(long, value_name = "TAG")]
    pub image: Option<String>,
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    pub instance: String,
    /// Image to return to (default: the previous one).
    #[arg(long, value_name = "TAG")]
    pub to: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    pub instance: String,
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Lines from the end ("all" for everything).
    #[arg(long, default_value = "100")]
    pub tail: String,
    #[arg(long)]
    pub timestamps: bool,
    /// Which replica of the instance (0 is the instance's own container).
    #[arg(long, default_value_t = 0, value_name = "I")]
    pub replica: usize,
}

#[derive(Args, Debug)]
pub struct PurgeArgs {
    pub instance: String,
    /// Purge every cached path that answers, changed or not.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

fn fail(e: DeployError) -> CliError {
    CliError::Deploy(e)
}

pub async fn engine() -> Result<Docker, DeployError> {
    docker::connect().await.map_err(DeployError::Unreachable)
}

fn load_spec(path: Option<&std::path::Path>) -> Result<Spec, DeployError> {
    Ok(Spec::load(&Spec::locate(path)?)?)
}

pub async fn run(config: Config, a: DeployArgs) -> CliResult {
    let spec_path = a.spec.clone();
    match a.action {
        DeployAction::Stable(args) => apply(&config, spec_path, "stable", None, args).await,
        DeployAction::Dev(args) => apply(&config, spec_path, "dev", None, args).await,
        DeployAction::Apply { instance, args } => apply(&config, spec_path, &instance, None, args).await,
        DeployAction::Rollback(r) => apply(&config, spec_path, &r.instance, Some(r.to.clone()), r.apply).await,
        DeployAction::Plan(p) => plan(&config, spec_path, p).await,
        DeployAction::Status(s) => status(&config, spec_path, s).await,
        DeployAction::Logs(l) => logs(spec_path, l).await,
        DeployAction::PurgeCache(p) => purge_cache(&config, spec_path, p).await,
        DeployAction::Hold => {
            hold().await;
            Ok(())
        }
        DeployAction::Compose { instance } => {
            let spec = load_spec(spec_path.as_deref()).map_err(fail)?;
            let inst = spec.instance(&instance).map_err(|e| fail(e.into()))?;
            print!("{}", compose::render(&spec, inst));
            Ok(())
        }
    }
}

/// Waits for SIGTERM or SIGINT; the container's only job is to own the published ports.
async fn hold() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Plans the deploy (or rollback), then prints the plan (`--dry-run`) or applies it.
async fn apply(config: &Config, spec: Option<PathBuf>, name: &str, rollback: Option<Option<String>>, args: ApplyArgs) -> CliResult {
    let spec = load_spec(spec.as_deref()).map_err(fail)?;
    let docker = engine().await.map_err(fail)?;
    let controller = Controller { spec: &spec, docker: &docker, config };
    let mut opts = args.options();
    let plan = match rollback {
        Some(to) => {
            opts.image = to.or(opts.image);
            controller.rollback_plan(name, &opts).await
        }
        None => controller.plan(name, &opts).await,
    }
    .map_err(fail)?;
    let outcome = if opts.dry_run { plan.dry_run() } else { controller.apply(plan, &mut super::term_ui::TermUi::new(args.yes)).await.map_err(fail)? };
    report(&outcome, &args);
    match outcome.exit_code() {
        0 => Ok(()),
        code => Err(CliError::Exit { code, message: outcome.failure() }),
    }
}

fn report(o: &Outcome, args: &ApplyArgs) {
    if args.json {
        print_json(o);
    } else {
        let _ = std::io::stdout().lock().write_all(o.render(args.timings).as_bytes());
    }
}

async fn plan(config: &Config, spec: Option<PathBuf>, p: PlanArgs) -> CliResult {
    let as_two = |e: DeployError| CliError::Exit { code: 2, message: e.to_string() };
    let spec = load_spec(spec.as_deref()).map_err(as_two)?;
    let docker = engine().await.map_err(as_two)?;
    let controller = Controller { spec: &spec, docker: &docker, config };
    let opts = ApplyOptions { image: p.image.clone(), binary: p.binary.clone(), ..Default::default() };
    let r = controller.plan(&p.instance, &opts).await.map_err(as_two)?.report();
    if p.json {
        print_json(&r);
    } else if r.in_sync {
        println!("{} ({}) is in sync with {}", p.instance, r.container, spec.path.display());
    } else {
        println!("{} ({}) differs from {}:", p.instance, r.container, spec.path.display());
        for c in &r.changes {
            println!("  {:<40} running: {}  desired: {}", c.field, c.actual, c.desired);
        }
    }
    if r.in_sync { Ok(()) } else { Err(CliError::Exit { code: 1, message: format!("{} differs from the desired state ({} change(s))", p.instance, r.changes.len()) }) }
}

async fn status(config: &Config, spec: Option<PathBuf>, s: JsonArgs) -> CliResult {
    let spec = load_spec(spec.as_deref()).map_err(fail)?;
    let docker = engine().await.map_err(fail)?;
    let controller = Controller { spec: &spec, docker: &docker, config };
    let rows = controller.status(&ApplyOptions::default()).await.map_err(fail)?;
    if s.json {
        print_json(&rows);
        return Ok(());
    }
    println!(
        "{:<10} {:<3} {:<20} {:<10} {:<9} {:<10} {:<9} {:<8} {:<14} {:<30} IMAGE",
        "INSTANCE", "R", "CONTAINER", "ENGINE", "STATE", "HEALTH", "VERSION", "UPTIME", "DRIFT", "PORTS"
    );
    for r in rows {
        let ports: Vec<String> = r.ports.iter().map(|p| format!("{}->{}", p.host_port, p.container)).collect();
        println!(
            "{:<10} {:<3} {:<20} {:<10} {:<9} {:<10} {:<9} {:<8} {:<14} {:<30} {}",
            r.instance,
            r.replica,
            r.container,
            r.engine,
            r.state,
            r.health,
            r.version,
            format!("{}s", r.uptime_secs),
            r.drift,
            ports.join(","),
            r.image
        );
    }
    Ok(())
}

async fn logs(spec: Option<PathBuf>, l: LogsArgs) -> CliResult {
    let spec = load_spec(spec.as_deref()).map_err(fail)?;
    let inst = spec.instance(&l.instance).map_err(|e| fail(e.into()))?;
    let replicas = spec.replicas(inst);
    let Some(replica) = replicas.get(l.replica) else {
        return Err(CliError::Exit { code: 2, message: format!("{} runs {} replica(s): --replica 0 to {}", inst.name, replicas.len(), replicas.len() - 1) });
    };
    let docker = match &replica.engine {
        None => engine().await.map_err(fail)?,
        Some(e) => docker::connect_to(&engine_url(e)).await.map_err(|source| fail(DeployError::Engine { engine: e.clone(), source }))?,
    };
    let options = bollard::query_parameters::LogsOptionsBuilder::default()
        .follow(l.follow)
        .stdout(true)
        .stderr(true)
        .timestamps(l.timestamps)
        .tail(&l.tail)
        .build();
    let mut stream = docker.logs(&replica.container, Some(options));
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(e.into()))?;
        if out.write_all(&chunk.into_bytes()).and_then(|_| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

async fn purge_cache(config: &Config, spec: Option<PathBuf>, p: PurgeArgs) -> CliResult {
    let spec = load_spec(spec.as_deref()).map_err(fail)?;
    let inst = spec.instance(&p.instance).map_err(|e| fail(e.into()))?;
    let file = EnvFile::read(&inst.env_file).ok();
    let settings = purge::settings(config, file.as_ref());
    let http_base = format!("http://{}:{}", spec.probe_host(), inst.dashboard_port);
    let manifest = purge::manifest_path(&spec.defaults.state_dir, &inst.name);
    let outcome = purge::run(&http_base, &inst.public_url, &spec.defaults.cache_paths, &manifest, settings, p.all, p.dry_run)
        .await
        .map_err(|e| fail(e.into()))?;
    if p.json {
        print_json(&outcome);
        return Ok(());
    }
    if let Some(why) = &outcome.skipped {
        eprintln!("purge-cache: {why}");
    }
    let verb = if outcome.skipped.is_some() { "would purge" } else { "purged" };
    for url in &outcome.purged {
        println!("{verb} {url}");
    }
    println!("{} URL(s) {verb}, {} unchanged, {} call(s)", outcome.purged.len(), outcome.unchanged, outcome.calls);
    Ok(())
}
