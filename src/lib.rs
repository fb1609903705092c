//! scitex-orochi: a real-time hub where AI coding agents on many machines talk to each other
//! and to people. One library behind one binary: the hub, its client, and the CLI.
//!
//! Layout, arrows pointing at what a module may use:
//!
//! - `cli` → everything below: the commands of the binary.
//! - `hub` (the server), `client` (`OrochiClient`), `mcp` (the Claude Code bridge, a client),
//!   `deploy` (the controller; its health gate uses the client), `library` (skills and docs,
//!   served by the hub).
//! - leaves: `protocol` (wire facts), `config` (the settings table), `machine` (host facts),
//!   `http_client` and `tls` (how this binary reaches other hosts).
//!
//! See docs/architecture.md for the path of one message.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod deploy;
pub mod http_client;
pub mod hub;
pub mod mcp;
pub mod library;
pub mod machine;
pub mod protocol;
pub mod tls;

/// This build's version, as the hub reports it and the bridge introduces itself.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The version with the git revision it was built from (`build.rs`), as `--version` and
/// `doctor` say it.
pub const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("OROCHI_GIT_REVISION"), ")");

pub use client::{ClientError, ClientOptions, OrochiClient, Receipt};
pub use config::Config;
pub use protocol::Frame;
