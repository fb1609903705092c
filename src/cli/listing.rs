//! Read-only commands over the REST API: list-agents, list-channels, list-members, show-status.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::{CliError, CliResult, print_json};
use crate::client::rest::Rest;
use crate::config::Config;

/// The hub's REST API with this command line's settings.
pub fn rest(config: &Config) -> Rest {
    Rest::new(&config.http_base(), config.client_token(), Duration::from_secs(10))
}

/// List connected agents with liveness.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi list-agents\n  scitex-orochi list-agents --json | jq '.[].name'\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct AgentsArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn agents(config: Config, a: AgentsArgs) -> CliResult {
    let agents = rest(&config).get("/api/agents/registry", &[]).await?;
    if a.json {
        print_json(&agents);
        return Ok(());
    }
    let list = agents.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no agents connected");
    }
    for ag in list {
        let chans: Vec<&str> = ag["channels"].as_array().map(|c| c.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        println!(
            "{:<24} {:<8} {:<16} {:<12} {}  {}",
            ag["name"].as_str().unwrap_or(""),
            ag["status"].as_str().unwrap_or(""),
            ag["machine"].as_str().unwrap_or(""),
            ag["role"].as_str().unwrap_or(""),
            chans.join(","),
            ag["current_task"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// List channels (live and stored).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi list-channels\n  scitex-orochi list-channels --json\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct ChannelsArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn channels(config: Config, a: ChannelsArgs) -> CliResult {
    let map = rest(&config).get("/api/channels", &[]).await?;
    let names: Vec<&String> = map.as_object().map(|m| m.keys().collect()).unwrap_or_default();
    if a.json {
        print_json(&names);
    } else {
        for n in names {
            println!("{n}");
        }
    }
    Ok(())
}

/// List the members of a channel.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi list-members --channel '#general'\n  scitex-orochi list-members --channel '#general' --json\n\nExit codes: 0 ok, 1 failure (unknown channel), 2 usage, 3 hub unreachable or token refused.")]
pub struct MembersArgs {
    #[arg(long)]
    pub channel: String,
    #[arg(long)]
    pub json: bool,
}

pub async fn members(config: Config, a: MembersArgs) -> CliResult {
    let map = rest(&config).get("/api/channels", &[]).await?;
    let Some(members) = map.get(&a.channel) else { return Err(CliError::NoChannel(a.channel)) };
    if a.json {
        print_json(members);
    } else {
        for m in members.as_array().into_iter().flatten().filter_map(Value::as_str) {
            println!("{m}");
        }
    }
    Ok(())
}

/// Show the hub's status: version, uptime, agents, channels, observers.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi show-status\n  scitex-orochi show-status --json | jq .agents_online\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct StatusArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn status(config: Config, a: StatusArgs) -> CliResult {
    let stats = rest(&config).get("/api/stats", &[]).await?;
    if a.json {
        print_json(&stats);
    } else {
        println!("hub {} (version {}, up {} s)", config.http_base(), stats["version"].as_str().unwrap_or("?"), stats["uptime_secs"]);
        println!("agents online: {}  channels: {}  observers: {}", stats["agents_online"], stats["channels_active"], stats["observers_connected"]);
    }
    Ok(())
}
