//! What every handler shares: the registry of connected agents and observers, who a token is
//! (`auth`), who holds which name, agents' profiles, the Prometheus metrics, and the registry
//! across replicas on a shared database (`fleet`).

pub mod auth;
pub mod fleet;
mod machine_index;
pub mod metrics;
pub mod names;
pub mod outbox;
pub mod profile;
pub mod registry;
