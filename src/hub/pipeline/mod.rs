//! The message path: a message stored then delivered, pushed and answered (`router`), offline
//! mentions (`inbox`) and history reads (`history`).

pub mod history;
pub mod inbox;
pub mod router;
