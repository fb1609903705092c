//! The hub and its store on a real PostgreSQL 15 (see [`server`]).

mod hub;
mod outage;
pub mod server;
mod store_suite;
