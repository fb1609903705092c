//! Who may answer a permission request, and why an answer is refused: the admin token, or an
//! approver token naming one person of the asking agent's workspace.

use crate::hub::HubState;
use crate::hub::state::auth::hash_token;
use crate::hub::store::StoreError;
use crate::hub::store::permissions::ApproverRow;

/// `allow` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Allow,
    Deny,
}

impl Behavior {
    pub fn parse(raw: &str) -> Option<Behavior> {
        match raw {
            "allow" => Some(Behavior::Allow),
            "deny" => Some(Behavior::Deny),
            _ => None,
        }
    }

    pub(super) fn status(self) -> &'static str {
        match self {
            Behavior::Allow => "allowed",
            Behavior::Deny => "denied",
        }
    }
}

/// Who may answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answerer {
    Admin,
    /// An approver token: the person it names, its workspace, and the token's hash.
    Approver { row: ApproverRow, token_hash: String },
}

impl Answerer {
    /// The answerer behind a presented token: the admin token, or an approver token.
    pub async fn of_token(st: &HubState, token: &str) -> Result<Option<Answerer>, StoreError> {
        if crate::hub::state::auth::admin_matches(&st.admin_token, token) {
            return Ok(Some(Answerer::Admin));
        }
        if !token.starts_with("wks_") {
            return Ok(None);
        }
        Self::of_hash(st, hash_token(token)).await
    }

    pub async fn of_hash(st: &HubState, token_hash: String) -> Result<Option<Answerer>, StoreError> {
        let h = token_hash.clone();
        let row = st.store.approver(h).await?;
        Ok(row.map(|row| Answerer::Approver { row, token_hash }))
    }

    /// The name the audit records.
    pub fn name(&self) -> &str {
        match self {
            Answerer::Admin => "admin",
            Answerer::Approver { row, .. } => &row.person,
        }
    }

    /// Whether requests of `workspace` are this answerer's: the admin all; an approver its
    /// workspace's, and the admin token's agents' (`""`) when it is of the default workspace.
    pub fn sees(&self, workspace: &str) -> bool {
        match self {
            Answerer::Admin => true,
            Answerer::Approver { row, .. } => row.workspace_id == workspace || (workspace.is_empty() && row.default_workspace),
        }
    }

    /// The workspaces a list is limited to (`None`: every one).
    pub fn scopes(&self) -> Option<Vec<String>> {
        match self {
            Answerer::Admin => None,
            Answerer::Approver { row, .. } if row.default_workspace => Some(vec![row.workspace_id.clone(), String::new()]),
            Answerer::Approver { row, .. } => Some(vec![row.workspace_id.clone()]),
        }
    }

    pub(super) fn token_hash(&self) -> Option<&str> {
        match self {
            Answerer::Admin => None,
            Answerer::Approver { token_hash, .. } => Some(token_hash),
        }
    }
}

/// Why an answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("no permission request {0}")]
    NotFound(String),
    #[error("the token the asking agent connected with cannot answer its own requests")]
    OwnToken,
    #[error("request {id} was already answered: {behavior} by {by}")]
    Answered { id: String, behavior: &'static str, by: String },
    #[error("request {0} expired and can no longer be answered")]
    Expired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
