//! One row of the settings table ([`Var`]): how its raw text is checked ([`Kind`]) and
//! read into its field's type.

use std::path::PathBuf;

use super::db::{self, DbLocation};

/// How a variable's raw text is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Host,
    Port,
    /// A `ws://`, `wss://`, `http://` or `https://` URL, or empty.
    Url,
    Path,
    /// Comma-separated exact origins (`scheme://host[:port]`), or empty.
    Origins,
    /// Comma-separated IP addresses or CIDR networks, or empty.
    Networks,
    Count,
    Seconds,
    Bytes,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A file path, or a `postgres://` / `postgresql://` URL (see [`DbLocation`]).
    Database,
}

impl Kind {
    fn expected(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Host => "a host name or IP address".into(),
            Kind::Port => "a TCP port 1-65535".into(),
            Kind::Url => "a ws://, wss://, http:// or https:// URL".into(),
            Kind::Path => "a file system path".into(),
            Kind::Origins => "comma-separated origins like https://example.org".into(),
            Kind::Networks => "comma-separated IP addresses or CIDR networks like 10.0.0.0/8".into(),
            Kind::Count => "a non-negative integer".into(),
            Kind::Seconds => "a whole number of seconds".into(),
            Kind::Bytes => "a size in bytes".into(),
            Kind::Choice(words) => format!("one of {}", words.join(", ")),
            Kind::Database => "a file path (SQLite), or a postgres:// or postgresql:// URL".into(),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub secret: bool,
    pub doc: &'static str,
}

/// A bad value: names the variable and what was expected, never the secret's value.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

/// Converts checked raw text into the field's type.
pub(super) trait FromRaw: Sized {
    fn from_raw(raw: &str) -> Result<Self, ()>;
}
impl FromRaw for String {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        Ok(raw.to_string())
    }
}
impl FromRaw for PathBuf {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        Ok(PathBuf::from(raw))
    }
}
impl FromRaw for DbLocation {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        DbLocation::parse(raw).map_err(drop)
    }
}
impl FromRaw for u16 {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        raw.trim().parse().map_err(|_| ())
    }
}
impl FromRaw for u64 {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        raw.trim().parse().map_err(|_| ())
    }
}
impl FromRaw for Vec<String> {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        Ok(list(raw).map(String::from).collect())
    }
}

impl FromRaw for Vec<ipnet::IpNet> {
    fn from_raw(raw: &str) -> Result<Self, ()> {
        list(raw).map(parse_network).collect()
    }
}

fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// A CIDR network, or one address as a network of its own.
fn parse_network(s: &str) -> Result<ipnet::IpNet, ()> {
    s.parse().or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(|_| ())
}

impl Var {
    /// Checks `raw` against the kind; `Err` carries what was expected.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        let ok = match self.kind {
            Kind::Text | Kind::Path => true,
            Kind::Host => !raw.trim().is_empty() && !raw.contains(['/', ' ']),
            Kind::Port => raw.trim().parse::<u16>().is_ok_and(|p| p > 0),
            Kind::Count | Kind::Seconds | Kind::Bytes => raw.trim().parse::<u64>().is_ok(),
            Kind::Url => raw.is_empty() || is_url(raw, &["ws", "wss", "http", "https"]),
            Kind::Origins => list(raw).all(is_origin),
            Kind::Networks => list(raw).all(|s| parse_network(s).is_ok()),
            Kind::Choice(words) => words.contains(&raw.trim()),
            Kind::Database => DbLocation::parse(raw).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            let shown = match self.kind {
                _ if self.secret => String::from("(secret, not shown)"),
                // A URL's password is a secret even where the variable is not.
                Kind::Database => format!("{:?}", db::shown(raw)),
                _ => format!("{raw:?}"),
            };
            Err(format!("{}: expected {}, got {shown}", self.name, self.kind.expected()))
        }
    }

    pub(super) fn read<T: FromRaw>(&self, lookup: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<String>) -> Option<T> {
        let raw = lookup(self.name).unwrap_or_else(|| self.default.to_string());
        if let Err(e) = self.check(&raw) {
            errors.push(e);
            return None;
        }
        match T::from_raw(&raw) {
            Ok(v) => Some(v),
            Err(()) => {
                errors.push(format!("{}: expected {}", self.name, self.kind.expected()));
                None
            }
        }
    }
}

fn is_url(raw: &str, schemes: &[&str]) -> bool {
    url::Url::parse(raw).is_ok_and(|u| schemes.contains(&u.scheme()) && u.host_str().is_some())
}

/// An origin is `scheme://host[:port]` with nothing after it.
fn is_origin(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https")
            && u.host_str().is_some()
            && u.path() == "/"
            && !raw.ends_with('/')
            && u.query().is_none()
    })
}
