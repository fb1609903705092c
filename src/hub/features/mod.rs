//! The hub's features beside messaging: the TODO list, reactions, health records, Web Push and
//! tool-permission approvals.

pub mod health;
pub mod permissions;
pub mod push;
pub mod reactions;
pub mod todos;
