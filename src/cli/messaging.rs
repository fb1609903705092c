//! Commands that speak the agent protocol: send, login, join, show-history.

use clap::Args;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::listing::rest;
use super::{CliResult, print_json};
use crate::client::{ClientOptions, OrochiClient};
use crate::config::Config;

fn options(config: &Config, channels: Vec<String>, register: bool) -> ClientOptions {
    let mut o = ClientOptions::new(config.hub_url(), config.client_token(), config.agent_name());
    o.channels = channels;
    o.register = register;
    o.reconnect = register;
    o
}

/// Send a message to a channel and wait for the hub's durable ack.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi send '#general' 'build finished'\n  scitex-orochi send '#ops' '@head-mba please check' --json\n  scitex-orochi send '#general' hi --dry-run\n\nThe sender is SCITEX_OROCHI_AGENT (default: host name).\nExit codes: 0 stored, 1 refused, 2 usage, 3 hub unreachable or token refused.")]
pub struct SendArgs {
    /// Channel, e.g. '#general'.
    pub channel: String,
    /// Message text; @name mentions reach that agent.
    pub message: String,
    #[arg(long)]
    pub json: bool,
    /// Print what would be sent and exit without connecting.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn send(config: Config, a: SendArgs) -> CliResult {
    if a.dry_run {
        let plan = json!({"action": "send", "channel": a.channel, "message": a.message, "sender": config.agent_name(), "hub": crate::config::redact_token(&config.hub_url())});
        if a.json { print_json(&plan) } else { println!("[dry-run] would send to {} as {}: {}", a.channel, config.agent_name(), a.message) }
        return Ok(());
    }
    let client = OrochiClient::connect(options(&config, vec![], false)).await?;
    let receipt = client.send(&a.channel, &a.message, None).await?;
    client.close().await;
    if a.json {
        print_json(&json!({"status": "sent", "channel": a.channel, "id": receipt.id, "seq": receipt.seq}));
    } else {
        println!("sent to {} (seq {})", a.channel, receipt.seq);
    }
    Ok(())
}

/// Register as an agent and stream messages until interrupted.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi login --channels '#general,#research'\n  scitex-orochi login --json | jq .content\n\nReconnects by itself and resumes each channel without gaps.\nExit codes: 0 interrupted, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct LoginArgs {
    /// Comma-separated channels.
    #[arg(long, value_delimiter = ',', default_value = "#general")]
    pub channels: Vec<String>,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn login(config: Config, a: LoginArgs) -> CliResult {
    let client = OrochiClient::connect(options(&config, a.channels.clone(), true)).await?;
    eprintln!("logged in as {} on {}", client.name(), a.channels.join(", "));
    let mut stream = std::pin::pin!(client.listen());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            next = stream.next() => {
                let Some(f) = next else { break };
                if a.json {
                    print_json(&json!({"ts": f.ts, "channel": f.channel(), "sender": f.sender, "content": f.content(), "seq": f.seq, "id": f.id}));
                } else {
                    println!("[{}] [{}] {}: {}", f.ts, f.channel(), f.sender, f.content());
                }
            }
        }
    }
    client.close().await;
    Ok(())
}

/// Add an agent to a channel for good: now if it is connected, and at every later register.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi join '#alerts'\n  scitex-orochi join '#alerts' --agent worker-1 --json\n\nNeeds the admin token. Exit codes: 0 joined, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct JoinArgs {
    pub channel: String,
    /// Agent to add (default SCITEX_OROCHI_AGENT, else the host name).
    #[arg(long)]
    pub agent: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn join(config: Config, a: JoinArgs) -> CliResult {
    let agent = a.agent.clone().unwrap_or_else(|| config.agent_name());
    if a.dry_run {
        let plan = json!({"action": "join", "channel": a.channel, "agent": agent});
        if a.json { print_json(&plan) } else { println!("[dry-run] would add {agent} to {}", a.channel) }
        return Ok(());
    }
    let path = format!("/api/channels/{}/members", urlencode(&a.channel));
    let reply = rest(&config).post(&path, &json!({"agent": agent})).await?;
    if a.json { print_json(&reply) } else { println!("{agent} joined {}", a.channel) }
    Ok(())
}

/// Show a channel's recent messages, oldest first.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi show-history '#general' --limit 20\n  scitex-orochi show-history general --json | jq '.[].content'\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 hub unreachable or token refused.")]
pub struct HistoryArgs {
    pub channel: String,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

pub async fn history(config: Config, a: HistoryArgs) -> CliResult {
    let path = format!("/api/history/{}", urlencode(&a.channel));
    let mut rows = match rest(&config).get(&path, &[("limit", a.limit.to_string())]).await? {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    };
    rows.reverse();
    if a.json {
        print_json(&rows);
    } else if rows.is_empty() {
        println!("no history for {}", a.channel);
    } else {
        for r in &rows {
            println!("[{}] {}: {}", r["ts"].as_str().unwrap_or(""), r["sender"].as_str().unwrap_or(""), r["content"].as_str().unwrap_or(""));
        }
    }
    Ok(())
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}
