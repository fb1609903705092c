//! What `doctor` asks of a PostgreSQL database: can it be reached, and at which schema
//! version, without changing anything (a hub migrates at start; doctor never does).

use std::time::Duration;

use super::StoreError;
use super::postgres::schema;
use crate::config::PostgresUrl;

/// The schema a database holds against the one this build writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaState {
    /// 0 when the hub's tables are not there yet.
    pub found: i64,
    pub known: i64,
}

/// Connects once (5 s at most) and reads the schema version.
pub async fn postgres_schema(url: &PostgresUrl) -> Result<SchemaState, StoreError> {
    let mut config: tokio_postgres::Config = url.expose().parse().map_err(|_| StoreError::BadUrl)?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    let conn = tokio::spawn(conn);
    let created: bool = client.query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[]).await?.get(0);
    let found: i64 = match created {
        true => client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[]).await?.get(0),
        false => 0,
    };
    drop(client);
    let _ = conn.await;
    Ok(SchemaState { found, known: schema::VERSION })
}
