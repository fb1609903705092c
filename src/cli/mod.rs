//! The command line: flat verb-noun commands. Exit codes: 0 ok, 1 failure, 2 usage,
//! 3 hub unreachable or token refused. Data goes to stdout (`--json` is jq-clean); logs to stderr.

mod deploy;
mod doctor;
mod env;
mod library;
mod listing;
mod migrate;
mod push;
mod messaging;
mod serve;
mod term_ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::ClientError;
use crate::client::rest::RestError;
use crate::config::{Config, ConfigError};

pub const EXIT_CODES: &str = "Exit codes: 0 ok, 1 failure, 2 usage error, 3 hub unreachable or token refused.";

#[derive(Parser, Debug)]
#[command(name = "scitex-orochi", version = crate::LONG_VERSION, about = "Real-time hub where AI agents on many machines talk to each other and to people",
    after_help = concat!("Settings come from SCITEX_OROCHI_* variables (see docs/configuration.md); the token only from the environment.\n\n",
        "Examples:\n  scitex-orochi serve\n  scitex-orochi send '#general' 'hello'\n  scitex-orochi list-agents --json\n\n",
        "Exit codes: 0 ok, 1 failure, 2 usage error, 3 hub unreachable or token refused."))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Serve(serve::ServeArgs),
    Healthcheck(serve::HealthcheckArgs),
    Send(messaging::SendArgs),
    Login(messaging::LoginArgs),
    Join(messaging::JoinArgs),
    ShowHistory(messaging::HistoryArgs),
    ListAgents(listing::AgentsArgs),
    ListChannels(listing::ChannelsArgs),
    ListMembers(listing::MembersArgs),
    ShowStatus(listing::StatusArgs),
    SetupPush(push::SetupPushArgs),
    Skills(library::SkillsArgs),
    Docs(library::DocsArgs),
    Deploy(deploy::DeployArgs),
    ValidateEnv(env::ValidateEnvArgs),
    Doctor(doctor::DoctorArgs),
    MigrateDb(migrate::MigrateDbArgs),
    Mcp(crate::mcp::McpArgs),
    Completions(CompletionsArgs),
}

/// Print a shell completion script.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  scitex-orochi completions bash > ~/.local/share/bash-completion/completions/scitex-orochi
  scitex-orochi completions zsh > \"${fpath[1]}/_scitex-orochi\"
  scitex-orochi completions fish > ~/.config/fish/completions/scitex-orochi.fish

Exit codes: 0 ok, 2 usage.")]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Why a command failed, mapped to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Rest(RestError),
    #[error(transparent)]
    Tls(crate::tls::TlsFailure),
    #[error("the hub refused the token (HTTP 401); set SCITEX_OROCHI_TOKEN")]
    HttpUnauthorized,
    #[error(transparent)]
    Bridge(#[from] crate::mcp::BridgeError),
    #[error("cannot start the hub: {0}")]
    Start(#[source] crate::hub::HubError),
    #[error("cannot watch for SIGTERM: {0}")]
    Signal(#[source] std::io::Error),
    #[error("{url} answered {status}; the hub is up but unhealthy (its log says why)")]
    Unhealthy { url: String, status: reqwest::StatusCode },
    #[error("cannot reach {url}: {source}; is the hub running on this host?")]
    HealthUnreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot ask on the terminal: {0}; pass --yes instead")]
    Prompt(#[source] dialoguer::Error),
    #[error("not confirmed (pass --yes to skip the question)")]
    NotConfirmed,
    #[error(transparent)]
    Library(#[from] crate::library::LibraryError),
    #[error(transparent)]
    Spec(#[from] crate::deploy::spec::SpecError),
    #[error("cannot read {}: {source}", path.display())]
    EnvFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    PushKeys(#[from] crate::hub::features::push::vapid::VapidError),
    #[error("the Web Push keys come from SCITEX_OROCHI_VAPID_*; rotate them there")]
    KeysFromEnvironment,
    #[error("no channel {0}; list-channels shows them")]
    NoChannel(String),
    /// Exits with the deploy error's own code (documented in `deploy --help`).
    #[error(transparent)]
    Deploy(crate::deploy::DeployError),
    /// A command-specific exit code (documented in its help).
    #[error("{message}")]
    Exit { code: u8, message: String },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Client(e) if e.is_connectivity() => 3,
            CliError::Rest(e) if e.is_connect() => 3,
            CliError::Tls(_) | CliError::HttpUnauthorized => 3,
            CliError::Exit { code, .. } => *code,
            CliError::Deploy(e) => e.exit_code(),
            _ => 1,
        }
    }
}

/// A refused token and a TLS failure are told as such (exit 3, with the next step).
impl From<RestError> for CliError {
    fn from(e: RestError) -> Self {
        match e {
            RestError::Tls(t) => CliError::Tls(t),
            RestError::Refused { status, .. } if status.as_u16() == 401 => CliError::HttpUnauthorized,
            e => CliError::Rest(e),
        }
    }
}

pub type CliResult = Result<(), CliError>;

impl Cli {
    /// Servers and bridges that write to peers which may vanish at any time. They keep Rust's
    /// default (SIGPIPE ignored, EPIPE is an error on that one peer): a response written to a
    /// closed socket must not kill a server. Short commands should die quietly when stdout is
    /// closed early (`scitex-orochi skills list | head -1`), as CLI tools do; the binary's
    /// `main` restores SIGPIPE for them (the library forbids `unsafe`).
    pub fn is_long_running(&self) -> bool {
        matches!(self.command, Command::Serve(_) | Command::Mcp(_) | Command::Deploy(_))
    }
}

/// Runs a parsed command line to its exit code.
pub fn run(cli: Cli) -> ExitCode {
    if let Command::Completions(a) = &cli.command {
        // Needs no settings, no runtime: a script on stdout.
        clap_complete::generate(a.shell, &mut <Cli as clap::CommandFactory>::command(), "scitex-orochi", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        // These report bad values themselves, with line numbers.
        Err(_) if matches!(cli.command, Command::ValidateEnv(_) | Command::Doctor(_)) => env::lenient_config(),
        // A bad setting is a usage error, like a bad argument.
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logs(&config);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::serve(config, a).await,
            Command::Healthcheck(a) => serve::healthcheck(config, a).await,
            Command::Send(a) => messaging::send(config, a).await,
            Command::Login(a) => messaging::login(config, a).await,
            Command::Join(a) => messaging::join(config, a).await,
            Command::ShowHistory(a) => messaging::history(config, a).await,
            Command::ListAgents(a) => listing::agents(config, a).await,
            Command::ListChannels(a) => listing::channels(config, a).await,
            Command::Mcp(a) => Ok(crate::mcp::run(config, a).await?),
            Command::ListMembers(a) => listing::members(config, a).await,
            Command::ShowStatus(a) => listing::status(config, a).await,
            Command::SetupPush(a) => push::setup_push(config, a).await,
            Command::Skills(a) => library::run(crate::library::Shelf::Skills, a.action),
            Command::Docs(a) => library::run(crate::library::Shelf::Docs, a.action),
            Command::Deploy(a) => deploy::run(config, a).await,
            Command::ValidateEnv(a) => env::validate_env(a).await,
            Command::Doctor(a) => doctor::doctor(config, a).await,
            Command::MigrateDb(a) => migrate::migrate_db(a).await,
            Command::Completions(_) => unreachable!("answered before the settings are read"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", with_causes(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colour only for people: container logs and pipes get plain text.
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init();
}

/// Prints a value as one line of JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(v).expect("values serialize"));
}

/// Asks on a terminal; without one there is nobody to ask, so the answer is no (pass `--yes`).
pub fn confirm(question: &str) -> Result<bool, CliError> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(false);
    }
    dialoguer::Confirm::new().with_prompt(question).default(false).interact().map_err(CliError::Prompt)
}

/// An error and its sources on one line: `outer: cause: root cause`.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Transparent wrappers repeat their inner message; say each thing once.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_printed_once_each() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e = CliError::Bridge(crate::mcp::BridgeError::DownloadDir { path: "/x".into(), source: io });
        let line = with_causes(&e);
        assert!(line.starts_with("cannot prepare the download folder /x"), "{line}");
        assert!(line.ends_with(": permission denied"), "{line}");
        assert_eq!(line.matches("permission denied").count(), 1, "{line}");
    }
}
