//! `doctor`: diagnose the whole stack, one line per check.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::{CliError, CliResult, print_json};
use crate::config::Config;
use crate::deploy::check::Status;
use crate::deploy::doctor;
use crate::deploy::spec::Spec;

/// Diagnose the agent's path (hub, auth, agent and channel counts, the agent socket under a probe
/// name), database, push keys, env, Docker, instances, dev/stable wiring, public URLs (TLS and
/// route) and Cloudflare.
#[derive(Args, Debug)]
#[command(after_help = "Checks that do not apply on this machine (no Docker engine, no local database,
nothing deployed, a public host that does not resolve here) are skipped, not failed. A public
URL that fails says whether its certificate or its route is at fault.

Examples:
  scitex-orochi doctor
  scitex-orochi doctor --json | jq '.checks[] | select(.status == \"fail\")'

Exit codes: 0 no check failed (warnings allowed), 1 a check failed, 2 usage.")]
pub struct DoctorArgs {
    #[arg(long)]
    pub json: bool,
    /// Instance specs (default: deploy/instances.toml here or in a parent folder, if any).
    #[arg(long, value_name = "PATH")]
    pub spec: Option<PathBuf>,
}

pub async fn doctor(config: Config, a: DoctorArgs) -> CliResult {
    let spec = match Spec::locate(a.spec.as_deref()) {
        Ok(path) => Some(Spec::load(&path)?),
        Err(_) => None,
    };
    let checks = doctor::run(&config, spec.as_ref()).await;
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (ok, warn, failed, skipped) = (count(Status::Ok), count(Status::Warn), count(Status::Fail), count(Status::Skip));
    if a.json {
        print_json(&json!({"version": crate::LONG_VERSION, "checks": checks, "ok": ok, "warnings": warn, "failed": failed, "skipped": skipped}));
    } else {
        println!("scitex-orochi {}", crate::LONG_VERSION);
        for c in &checks {
            let tag = match c.status {
                Status::Ok => "[ok]  ",
                Status::Warn => "[warn]",
                Status::Fail => "[FAIL]",
                Status::Skip => "[skip]",
            };
            println!("  {tag} {:<22} {}", c.check, c.detail);
        }
        println!("{ok} ok, {warn} warning(s), {failed} failed, {skipped} skipped");
    }
    if failed == 0 { Ok(()) } else { Err(CliError::Exit { code: 1, message: format!("{failed} check(s) failed") }) }
}
