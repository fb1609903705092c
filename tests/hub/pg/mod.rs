//! The hub and its store on a real PostgreSQL 15 (see [`server`], tests/support/pg.rs, shared
//! with the deploy tests and the load generator).

/// Runs each named test, a function of the backend [`store_suite::Kind`] in scope, against
/// both backends.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Kind::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Kind::Postgres).await
            }
        }
    )*};
}

mod edge;
mod fleet;
pub mod hub;
mod outage;
mod replicas;
#[path = "../../support/pg.rs"]
pub mod server;
mod store_features;
mod store_suite;
mod tls;
