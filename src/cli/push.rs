//! `setup-push`: Web Push (VAPID) keys for browser notifications.

use clap::Args;
use serde_json::json;

use super::listing::rest;
use super::{CliError, CliResult, print_json};
use crate::config::Config;
use crate::hub::features::push::VapidKeys;
use crate::hub::features::push::vapid::key_file;

/// Create the hub's Web Push keys and print what a deploy needs.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi setup-push                 # create keys in the data folder (serve also does this on first start)\n  scitex-orochi setup-push --json\n  scitex-orochi setup-push --force --yes   # rotate: existing browser subscriptions stop working\n  scitex-orochi setup-push --test          # ask the running hub to notify every subscription\n\nThe private key is written to <data dir>/vapid-keys.json (0600) and never printed.\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused (--test).")]
pub struct SetupPushArgs {
    /// Replace existing keys.
    #[arg(long)]
    pub force: bool,
    /// Do not ask before rotating.
    #[arg(long)]
    pub yes: bool,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub dry_run: bool,
    /// Send a test notification to every subscription through the running hub.
    #[arg(long)]
    pub test: bool,
}

pub async fn setup_push(config: Config, a: SetupPushArgs) -> CliResult {
    if a.test {
        let result = rest(&config).post("/api/push/test", &json!({})).await?;
        if a.json { print_json(&result) } else { println!("sent {} · removed {} · failed {}", result["sent"], result["removed"], result["failed"]) }
        return Ok(());
    }
    let existing = VapidKeys::load(&config)?;
    let path = key_file(&config).ok_or(crate::hub::features::push::vapid::VapidError::NoKeyFile)?;
    let plan = match (&existing, a.force) {
        (Some(k), false) => ("keep", k.source.clone()),
        (Some(k), true) if k.source == "environment" => {
            return Err(CliError::KeysFromEnvironment);
        }
        _ => (if existing.is_some() { "rotate" } else { "create" }, path.display().to_string()),
    };
    if a.dry_run {
        if a.json { print_json(&json!({"action": plan.0, "file": plan.1})) } else { println!("[dry-run] would {} keys in {}", plan.0, plan.1) }
        return Ok(());
    }
    if plan.0 == "rotate" {
        eprintln!("warning: rotating the keys ends every existing browser subscription; people must subscribe again");
        if !a.yes && !super::confirm("Rotate the Web Push keys?")? {
            return Err(CliError::NotConfirmed);
        }
    }
    let keys = match existing {
        Some(k) if plan.0 == "keep" => k,
        _ => VapidKeys::generate(&config)?,
    };
    let env_lines = [
        format!("SCITEX_OROCHI_VAPID_PUBLIC={}", keys.public_key),
        format!("SCITEX_OROCHI_VAPID_PRIVATE=$(jq -r .private_key {})", path.display()),
        format!("SCITEX_OROCHI_VAPID_SUBJECT={}", keys.subject),
    ];
    if a.json {
        print_json(&json!({"status": plan.0, "public_key": keys.public_key, "source": keys.source, "env": env_lines}));
    } else {
        println!("{} Web Push keys ({})", if plan.0 == "keep" { "using existing" } else { "created" }, keys.source);
        println!("public key: {}", keys.public_key);
        println!("for a deploy's env file:");
        for l in env_lines {
            println!("  {l}");
        }
    }
    Ok(())
}
