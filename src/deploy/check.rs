//! One line of `doctor`: what every check returns (`doctor`, `hub_checks`, `public_urls`).

use serde::Serialize;

/// How a check came out; `Skip`: it does not apply on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One line of `doctor`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
}

/// A check named `name`.
pub(super) fn check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check { check: name.into(), status, detail: detail.into() }
}
