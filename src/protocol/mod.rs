//! The wire protocol: frame envelope and types (`Kind`), what a client frame asks
//! (`Command`, its payload read by `payload`), server-originated frames, error codes, limits,
//! timestamps and mention parsing. Field names and shapes follow the Python reference hub; the
//! additions (`seq`, `ref` on replies) are extra keys that reference clients ignore.

pub mod close;
mod command;
mod frame;
mod kind;
pub mod limits;
mod mention;
pub mod payload;
mod time;

pub use command::{Command, Heartbeat, Limits, PermissionAsk, Post, Query, Register, StatusUpdate};
pub use frame::{ErrorCode, Frame, FrameError, SERVER_SENDER, parse_frame};
pub use kind::Kind;
pub use mention::{ALL, addresses, parse_mentions};
pub use time::now_ts;

#[cfg(test)]
pub mod arbitrary;
