//! Connections: the accept loop and its limits, the agent and observer sockets, a socket's
//! writer and close codes, rate limits, and closing the sockets of a revoked token.

pub mod agent;
pub mod conn;
pub mod listener;
pub mod live_tokens;
pub mod observer;
pub mod rate;
