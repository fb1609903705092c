//! Copying a SQLite database into an empty PostgreSQL one (`scitex-orochi migrate-db`).
//! [`TABLES`] is the one list of what is copied; the columns of each table come from the
//! PostgreSQL schema (which mirrors SQLite's), and a table whose columns differ between the two
//! schemas stops the copy before anything is written. Everything is copied in one
//! transaction, ids and `seq` as they are; then each channel's head is set from its messages,
//! the identity counters move past the copied ids, and counts and heads are verified before the
//! commit, so a failed copy leaves the target empty.

mod copy;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use copy::{Copied, copy};

/// One copied table.
pub struct Table {
    pub name: &'static str,
    /// The PostgreSQL column that holds what SQLite keeps as the implicit `rowid` (a row
    /// order some reads use).
    rowid_column: Option<&'static str>,
}

const fn table(name: &'static str) -> Table {
    Table { name, rowid_column: None }
}

/// Every table a hub writes, parents before the tables whose foreign keys name them.
pub const TABLES: &[Table] = &[
    table("workspaces"),
    table("workspace_channels"),
    table("workspace_members"),
    table("workspace_invites"),
    Table { name: "workspace_token_hashes", rowid_column: Some("id") },
    table("messages"),
    table("channel_members"),
    table("reactions"),
    table("agent_health"),
    table("push_subscriptions"),
    table("todos"),
    table("inbox"),
    table("inbox_dropped"),
    table("key_marks"),
    table("name_claims"),
    table("media_files"),
    Table { name: "permissions", rowid_column: Some("row_order") },
];

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read the SQLite database {}: {source}", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the SQLite database has no table {0}; start this version's hub on it once, then migrate")]
    MissingTable(&'static str),
    #[error("table {table}: column {column} is in one schema only (SQLite has {sqlite:?}); start this version's hub on the SQLite file once, then migrate")]
    Columns { table: &'static str, column: String, sqlite: Vec<String> },
    #[error("table {table}, column {column}: {value} does not fit PostgreSQL's {pg_type}")]
    Value { table: &'static str, column: String, value: &'static str, pg_type: String },
    #[error("cannot reach the PostgreSQL database: {0}")]
    Connect(#[source] super::StoreError),
    #[error("PostgreSQL: {0}")]
    Target(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Schema(#[from] super::StoreError),
    #[error("the target database is not empty ({}); migrate-db only fills an empty database", .0.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", "))]
    NotEmpty(Vec<(String, u64)>),
    #[error("verification failed, nothing was committed: {}", .0.join("; "))]
    Verify(Vec<String>),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Target(e)
    }
}

/// The SQLite side, opened read-only.
pub struct Source {
    path: PathBuf,
    conn: Connection,
}

impl Source {
    pub fn open(path: &Path) -> Result<Source, MigrateError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|source| MigrateError::Source { path: path.to_path_buf(), source })?;
        Ok(Source { path: path.to_path_buf(), conn })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> MigrateError + '_ {
        |source| MigrateError::Source { path: self.path.clone(), source }
    }

    /// Rows per table, in copy order: what a migration would copy.
    pub fn counts(&self) -> Result<Vec<(&'static str, u64)>, MigrateError> {
        TABLES.iter().map(|t| Ok((t.name, self.count(t)?))).collect()
    }

    fn count(&self, t: &Table) -> Result<u64, MigrateError> {
        self.columns(t)?;
        let n: i64 = self.conn.query_row(&format!("SELECT COUNT(*) FROM {}", t.name), [], |r| r.get(0)).map_err(self.fail())?;
        Ok(n as u64)
    }

    fn columns(&self, t: &Table) -> Result<Vec<String>, MigrateError> {
        let mut st = self.conn.prepare("SELECT name FROM pragma_table_info(?1)").map_err(self.fail())?;
        let cols = st.query_map([t.name], |r| r.get(0)).map_err(self.fail())?.collect::<Result<Vec<String>, _>>().map_err(self.fail())?;
        if cols.is_empty() {
            return Err(MigrateError::MissingTable(t.name));
        }
        Ok(cols)
    }

    /// Each channel's last `seq`.
    fn heads(&self) -> Result<Vec<(String, i64)>, MigrateError> {
        let mut st = self.conn.prepare("SELECT channel, MAX(seq) FROM messages GROUP BY channel ORDER BY channel").map_err(self.fail())?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }
}

/// Connects to the target (TLS when its URL asks for it).
pub async fn connect(url: &crate::config::PostgresUrl) -> Result<tokio_postgres::Client, MigrateError> {
    super::probe::connect(url).await.map_err(MigrateError::Connect)
}

/// The copied tables of the target that hold rows, without creating anything: a target
/// without the hub's tables is empty.
pub async fn target_rows(pg: &impl tokio_postgres::GenericClient) -> Result<Vec<(String, u64)>, MigrateError> {
    let mut found = Vec::new();
    for t in TABLES {
        let exists: bool = pg.query_one("SELECT to_regclass($1) IS NOT NULL", &[&t.name]).await?.get(0);
        if exists {
            let n: i64 = pg.query_one(&format!("SELECT COUNT(*) FROM {}", t.name), &[]).await?.get(0);
            if n > 0 {
                found.push((t.name.to_string(), n as u64));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table of SQLite's schema is copied, or named as not copied.
    #[test]
    fn the_list_names_every_sqlite_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        crate::hub::store::sqlite::schema::migrate(&Connection::open(&path).unwrap()).unwrap();
        let src = Source::open(&path).unwrap();
        let mut st = src.conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").unwrap();
        let names: Vec<String> = st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        for n in &names {
            assert!(TABLES.iter().any(|t| t.name == n), "SQLite table {n} is not in TABLES");
        }
        assert_eq!(names.len(), TABLES.len(), "{names:?}");
        assert!(src.counts().unwrap().iter().all(|(_, n)| *n == 0));
    }
}
