//! The records the store keeps and the features act on, defined here so the store depends on
//! nothing above it: todos, health records, reactions, push subscriptions and jobs, and the
//! reader a query is scoped to. The features re-export them where their rules live.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The identity behind a connection or request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Workspace(String),
}

impl Principal {
    /// The routing scope: `""` for admin, as the reference.
    pub fn workspace_id(&self) -> &str {
        match self {
            Principal::Admin => "",
            Principal::Workspace(id) => id,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub priority: String,
    pub status: String,
    pub assignee: String,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    /// The workspace that created it (`""`: the admin's); only it and the admin see the task.
    pub workspace_id: String,
}

/// A task to create, already validated.
#[derive(Debug, Clone)]
pub struct NewTodo {
    pub title: String,
    pub body: String,
    pub priority: String,
    pub assignee: String,
    pub created_by: String,
    pub workspace_id: String,
}

/// Fields to change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct TodoPatch {
    pub title: Option<String>,
    pub body: Option<String>,
    pub priority: Option<String>,
    pub status: Option<String>,
    pub assignee: Option<String>,
}

/// List filters; an empty list means "any".
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
    pub assignee: Option<String>,
    /// Only this workspace's tasks; `None` for all (the admin).
    pub workspace: Option<String>,
}

pub enum Claim {
    Claimed(Todo),
    NotFound,
    /// Done, or claimed by someone else: the task as it stands.
    Refused(Todo),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    pub state: String,
    pub reason: String,
    /// Who reported it (an agent name, or what the REST caller said).
    pub source: String,
    pub ts: String,
}

/// emoji -> reactors, sorted.
pub type Reactions = BTreeMap<String, Vec<String>>;

/// What a toggle did.
pub struct Toggled {
    pub action: &'static str,
    pub channel: String,
    pub reactions: Reactions,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub owner: String,
    pub channels: Vec<String>,
    pub user_agent: String,
    pub created_at: String,
    pub workspace_id: String,
    /// Hash of the workspace token that subscribed (empty for the admin token): an approver
    /// token's browsers hear permission requests while the token lives.
    #[serde(skip)]
    pub token_hash: String,
}

impl Subscription {
    /// The push service's host, for logs (the endpoint path is a capability).
    pub fn host(&self) -> String {
        url::Url::parse(&self.endpoint).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or_default()
    }
}

/// What one stored message may trigger.
#[derive(Debug, Clone)]
pub struct PushJob {
    pub channel: String,
    pub sender: String,
    pub content: String,
    pub mentions: Vec<String>,
    /// The message's audience (`None`: every workspace): a workspace's subscriptions hear what
    /// its token could read, the admin's everything.
    pub audience: Option<String>,
}
