//! The message path: a message stored then delivered, pushed and answered (`router`), offline
//! mentions (`inbox`), history reads (`history`), the channels' heads a resuming client is
//! compared with (`heads`), and what other hub processes on the database commit and say
//! (`peers`).

pub mod heads;
pub mod history;
pub mod inbox;
pub mod peers;
pub mod router;
