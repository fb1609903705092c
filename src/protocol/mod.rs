//! The wire protocol: frame envelope, server-originated frames, error codes, timestamps and
//! mention parsing. Field names and shapes follow the Python reference hub; the additions
//! (`seq`, `ref` on replies) are extra keys that reference clients ignore.

pub mod close;
mod frame;
pub mod limits;
mod mention;
mod time;

pub use frame::{ErrorCode, Frame, FrameError, SERVER_SENDER, parse_frame};
pub use mention::{ALL, addresses, parse_mentions};
pub use time::now_ts;

#[cfg(test)]
pub mod arbitrary;
