//! The message path: a message stored then delivered, pushed and answered (`router`), offline
//! mentions (`inbox`), history reads (`history`) and what other hub processes on the database
//! commit and say (`peers`).

pub mod history;
pub mod inbox;
pub mod peers;
pub mod router;
