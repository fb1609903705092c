//! One connection to a PostgreSQL database outside the hub's pool: for `doctor` (can it be
//! reached, at which schema version, without changing anything: a hub migrates at start,
//! doctor never does) and for `migrate-db`.

use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::postgres::{driver_config, schema};
use crate::config::PostgresUrl;

/// The schema a database holds against the one this build writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// 0 when the hub's tables are not there yet.
    pub found: i64,
    pub known: i64,
}

/// Connects once (5 s at most), with TLS when the URL asks for it, as the hub's pool does.
/// The connection task runs on the current Tokio runtime until the client is dropped.
pub async fn connect(url: &PostgresUrl) -> Result<tokio_postgres::Client, StoreError> {
    let mut config = driver_config(url.expose())?;
    config.connect_timeout(Duration::from_secs(5));
    let client = match config.get_ssl_mode() {
        SslMode::Require => {
            let (client, conn) = config.connect(MakeRustlsConnect::new((*crate::tls::client_config()).clone())).await?;
            tokio::spawn(conn);
            client
        }
        _ => {
            let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client
        }
    };
    Ok(client)
}

/// Reads the schema version.
pub async fn postgres_schema(url: &PostgresUrl) -> Result<SchemaState, StoreError> {
    let client = connect(url).await?;
    let created: bool = client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).await?.get(0);
    let found: i64 = match created {
        true => client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[]).await?.get(0),
        false => 0,
    };
    Ok(SchemaState { found, known: schema::VERSION })
}
