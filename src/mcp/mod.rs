//! `scitex-orochi mcp`: the agent bridge. One MCP server on stdio for a Claude Code session,
//! with one live `OrochiClient` behind it: pull tools (`orochi_*`), bridge tools (`reply`,
//! `react`, `task`, …) and push of hub messages as `notifications/claude/channel`.
//! stdout carries the protocol; logs go to stderr. See docs/mcp.md.

mod context;
mod error;
mod handlers;
mod link;
mod media;
mod permissions;
mod push;
mod server;
mod tools;

use clap::Args;
use rmcp::ServiceExt;
use serde_json::{Map, Value, json};

use crate::client::ClientOptions;
use crate::config::{Config, names};
pub use handlers::channel_name;
pub use push::METHOD as PUSH_METHOD;
pub use server::INSTRUCTIONS;

/// Why the bridge could not start or stopped; the CLI maps it to exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("SCITEX_OROCHI_CHANNELS: {0}")]
    Channels(String),
    #[error("cannot prepare the download folder {path}; set SCITEX_OROCHI_MCP_DOWNLOAD_DIR to a writable folder")]
    DownloadDir { path: std::path::PathBuf, #[source] source: std::io::Error },
    #[error("MCP handshake with the client failed")]
    Handshake(#[source] Box<rmcp::service::ServerInitializeError>),
    #[error("MCP server stopped")]
    Stopped(#[source] tokio::task::JoinError),
}

/// Run the MCP server for Claude Code on stdio (the agent bridge).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  scitex-orochi mcp --print-config > .mcp.json\n  claude --dangerously-load-development-channels server:scitex-orochi\n\nConfigured by SCITEX_OROCHI_* variables (docs/mcp.md). Exit codes: 0 stdin closed, 1 failure.")]
pub struct McpArgs {
    /// Print the JSON for Claude Code's MCP configuration (token referenced, not inlined) and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Settings passed on to the server when they are set here; the token never is.
const PASSED_ON: &[&str] = &[
    names::URL, names::HOST, names::PORT, names::DASHBOARD_PORT, names::CHANNELS, names::MULTIPLEXER, names::MCP_DIRS,
    names::MCP_DOWNLOAD_DIR, names::MCP_PERMISSION_RELAY, names::LOG,
];

/// `{"mcpServers": {"scitex-orochi": {command, args, env}}}` with `${SCITEX_OROCHI_TOKEN}`,
/// which Claude Code expands from its own environment.
pub fn mcp_config(config: &Config, command: &str, lookup: impl Fn(&str) -> Option<String>) -> Value {
    let mut env = Map::new();
    for var in PASSED_ON {
        if let Some(v) = lookup(var).filter(|v| !v.is_empty()) {
            env.insert(var.to_string(), v.into());
        }
    }
    env.insert(names::AGENT.into(), config.agent_name().into());
    env.insert(names::TOKEN.into(), format!("${{{}}}", names::TOKEN).into());
    json!({"mcpServers": {"scitex-orochi": {"type": "stdio", "command": command, "args": ["mcp"], "env": env}}})
}

pub async fn run(config: Config, args: McpArgs) -> Result<(), BridgeError> {
    if args.print_config {
        let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "scitex-orochi".into());
        let out = mcp_config(&config, &exe, |n| std::env::var(n).ok());
        println!("{}", serde_json::to_string_pretty(&out).expect("JSON serializes"));
        return Ok(());
    }
    let agent = config.agent_name();
    let channels = config.channels.iter().map(|c| channel_name(c)).collect::<Result<Vec<_>, _>>()
        .map_err(|e| BridgeError::Channels(e.message))?;
    let dirs = media::Dirs::new(&config.mcp_dirs, &config.mcp_download_dir)
        .map_err(|source| BridgeError::DownloadDir { path: config.mcp_download_dir.clone(), source })?;
    let mut options = ClientOptions::new(config.hub_url(), config.client_token(), &agent);
    options.channels = channels.clone();
    options.role = "agent".into();
    options.profile.insert("multiplexer".into(), config.multiplexer.clone().into());
    let link = link::Link::start(options);
    let bridge = server::Bridge::new(config, agent.clone(), channels, link, dirs);
    tracing::info!(agent = %agent, "MCP bridge serving on stdio");
    let service = bridge.serve(rmcp::transport::stdio()).await.map_err(|e| BridgeError::Handshake(Box::new(e)))?;
    service.waiting().await.map_err(BridgeError::Stopped)?;
    Ok(())
}
