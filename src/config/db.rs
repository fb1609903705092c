//! Where the hub keeps its data: a SQLite file (a path), or a PostgreSQL database (a
//! `postgres://` or `postgresql://` URL, a secret when it holds a password: it is shown only
//! with the password masked).

use std::fmt;
use std::path::{Path, PathBuf};

/// The parsed `SCITEX_OROCHI_DB`.
#[derive(Clone, PartialEq, Eq)]
pub enum DbLocation {
    File(PathBuf),
    Postgres(PostgresUrl),
}

/// A PostgreSQL connection URL. `Debug` and `Display` mask its password; only
/// [`PostgresUrl::expose`] gives the text, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl(String);

/// Why a value is not a database location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbLocationError {
    #[error("an empty value names no database")]
    Empty,
    #[error("the URL scheme {0:?} names no supported database (postgres:// or postgresql://, or a file path)")]
    Scheme(String),
    #[error("not a valid PostgreSQL URL")]
    BadUrl,
}

const POSTGRES_SCHEMES: &[&str] = &["postgres", "postgresql"];

impl DbLocation {
    /// True when `raw` names PostgreSQL by its scheme, whether or not the rest is a valid URL
    /// (the hub that reads it says what is wrong).
    pub fn names_postgres(raw: &str) -> bool {
        raw.trim().split_once("://").is_some_and(|(scheme, _)| POSTGRES_SCHEMES.contains(&scheme))
    }

    pub fn parse(raw: &str) -> Result<DbLocation, DbLocationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DbLocationError::Empty);
        }
        let Some((scheme, _)) = raw.split_once("://") else { return Ok(DbLocation::File(PathBuf::from(raw))) };
        if !POSTGRES_SCHEMES.contains(&scheme) {
            return Err(DbLocationError::Scheme(scheme.to_string()));
        }
        // The driver's own parser: it takes libpq's forms that a WHATWG URL parser refuses,
        // such as `postgres://user@/db?host=/run/postgresql` (no host before the path).
        raw.parse::<tokio_postgres::Config>().map_err(|_| DbLocationError::BadUrl)?;
        Ok(DbLocation::Postgres(PostgresUrl(raw.to_string())))
    }

    /// The SQLite file, when the location is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            DbLocation::File(p) => Some(p),
            DbLocation::Postgres(_) => None,
        }
    }

    /// The folder of a SQLite file, where the hub keeps what it generates for itself
    /// (`.admin-token`, `vapid-keys.json`); `None` for PostgreSQL, which keeps them in the
    /// database.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.file().map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
    }
}

impl PostgresUrl {
    /// The URL itself, password included: for the driver only, never for a log or a message.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `raw` as it may be shown: a URL with its password masked (or hidden whole when it does not
/// parse), any other text as it is.
pub fn shown(raw: &str) -> String {
    if !raw.contains("://") {
        return raw.to_string();
    }
    match url::Url::parse(raw.trim()) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(a URL, not shown)".to_string(),
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shown(&self.0))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({self})")
    }
}

impl fmt::Display for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::File(p) => write!(f, "{}", p.display()),
            DbLocation::Postgres(u) => write!(f, "{u}"),
        }
    }
}

impl fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbLocation::File(p) => write!(f, "File({p:?})"),
            DbLocation::Postgres(u) => write!(f, "Postgres({u})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_urls_and_refusals() {
        assert_eq!(DbLocation::parse("orochi-data/orochi.db").unwrap(), DbLocation::File("orochi-data/orochi.db".into()));
        for url in ["postgres://u:pw@db:5432/orochi", "postgresql://db/orochi?sslmode=disable"] {
            assert!(matches!(DbLocation::parse(url).unwrap(), DbLocation::Postgres(_)), "{url}");
        }
        assert_eq!(DbLocation::parse("mysql://u:pw@db/x"), Err(DbLocationError::Scheme("mysql".into())));
        assert_eq!(DbLocation::parse(" "), Err(DbLocationError::Empty));
    }

    #[test]
    fn a_password_is_never_shown() {
        let db = DbLocation::parse("postgres://orochi:hunter2@db:5432/orochi").unwrap();
        for text in [db.to_string(), format!("{db:?}"), shown("postgres://orochi:hunter2@db/x"), shown("mysql://a:hunter2@h")] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(db.to_string(), "postgres://orochi:***@db:5432/orochi");
        assert!(db.data_dir().is_none() && db.file().is_none());
    }
}
