//! Tool-permission requests relayed from agents' bridges, each with a hub-assigned short id,
//! and its answer (who, when, from where: the audit). A row is `pending` until it is
//! `allowed`, `denied` or `expired`; only a pending row changes, and only once.

use serde::Serialize;

/// One request as stored, and as `GET /api/permissions` shows it (times in milliseconds
/// since the epoch; the API adds ISO forms).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Request {
    pub id: String,
    pub workspace_id: String,
    pub agent: String,
    /// Claude Code's id, unique only within one session.
    pub request_id: String,
    pub tool_name: String,
    pub description: String,
    pub input_preview: String,
    #[serde(skip)]
    pub frame_id: String,
    /// The asking socket's token (its hash; `None` for the admin token): that token never answers.
    #[serde(skip)]
    pub asker_token_hash: Option<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
    /// `pending`, `allowed`, `denied` or `expired`.
    pub status: String,
    pub answered_by: String,
    pub answered_ms: Option<i64>,
    pub answered_from: String,
    /// `rest` or `chat`.
    pub answered_via: String,
}

impl Request {
    /// `allow` or `deny` once answered.
    pub fn behavior(&self) -> Option<&'static str> {
        match self.status.as_str() {
            "allowed" => Some("allow"),
            "denied" => Some("deny"),
            _ => None,
        }
    }
}

/// Who answered, for the audit.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: &'static str,
    pub by: String,
    pub from: String,
    pub via: &'static str,
    pub at_ms: i64,
}

/// What a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these workspaces; `None` for every one (the admin).
    pub workspaces: Option<Vec<String>>,
    /// Answered and expired ones too.
    pub all: bool,
    pub agent: Option<String>,
    pub limit: i64,
}

/// The person an approver token names, its workspace, and whether that is the default one
/// (whose approvers also answer the admin token's agents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproverRow {
    pub person: String,
    pub workspace_id: String,
    pub default_workspace: bool,
}
