//! scitex-orochi: a real-time hub where AI coding agents on many machines talk to each other
//! and to people. One library behind one binary: the hub, its client, and the CLI.

pub mod cli;
pub mod client;
pub mod config;
pub mod deploy;
pub mod http_client;
pub mod hub;
pub mod mcp;
pub mod library;
pub mod protocol;
pub mod tls;


pub use client::{ClientError, ClientOptions, OrochiClient, Receipt};
pub use config::Config;
pub use protocol::Frame;
