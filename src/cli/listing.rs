//! Read-only commands over the REST API: list-agents, list-channels, list-members, show-status.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use super::{CliError, CliResult, print_json};
use crate::config::Config;

/// A small REST client with the token in the Authorization header.
pub struct Rest {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Rest {
    pub fn new(config: &Config) -> Result<Rest, CliError> {
        Ok(Rest { base: config.http_base(), token: config.client_token().to_string(), http: crate::http_client::client(Duration::from_secs(10)) })
    }

    async fn finish(&self, r: Result<reqwest::Response, reqwest::Error>) -> Result<Value, CliError> {
        let r = r.map_err(|e| {
            let host = url::Url::parse(&self.base).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default();
            match crate::tls::TlsFailure::find(&host, &e) {
                Some(t) => CliError::Tls(t),
                None if e.is_connect() || e.is_timeout() => CliError::HttpUnreachable(self.base.clone()),
                None => CliError::Failed(e.to_string()),
            }
        })?;
        let status = r.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(CliError::HttpUnauthorized);
        }
        let body: Value = r.json().await.map_err(|e| CliError::Failed(format!("unreadable reply: {e}")))?;
        if !status.is_success() {
            let msg = body["error"].as_str().unwrap_or("request failed");
            return Err(CliError::Failed(format!("hub answered {status}: {msg}")));
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await;
        self.finish(r).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(body).send().await;
        self.finish(r).await
    }
}

/// List connected agents with liveness.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi list-agents\n  scitex-orochi list-agents --json | jq '.[].name'\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct AgentsArgs {
    #[arg(long)]
    pub json: bool,
}

pub async fn agents(config: Config, a: AgentsArgs) -> CliResult {
    let agents = Rest::new(&config)?.get("/api/agents/registry").await?;
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
    let map = Rest::new(&config)?.get("/api/channels").await?;
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
    let map = Rest::new(&config)?.get("/api/channels").await?;
    let Some(members) = map.get(&a.channel) else { return Err(CliError::Failed(format!("no channel {}", a.channel))) };
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
    let stats = Rest::new(&config)?.get("/api/stats").await?;
    if a.json {
        print_json(&stats);
    } else {
        println!("hub {} (version {}, up {} s)", config.http_base(), stats["version"].as_str().unwrap_or("?"), stats["uptime_secs"]);
        println!("agents online: {}  channels: {}  observers: {}", stats["agents_online"], stats["channels_active"], stats["observers_connected"]);
    }
    Ok(())
}
