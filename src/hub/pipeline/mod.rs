//! The message path: a message stored then delivered, pushed and answered (`router`), offline
//! mentions (`inbox`), history reads (`history`) and the channels' heads a resuming client is
//! compared with (`heads`).

pub mod heads;
pub mod history;
pub mod inbox;
pub mod router;
