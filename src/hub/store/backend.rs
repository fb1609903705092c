//! The store's operations, one trait per domain, and [`Backend`], a store that has them all.
//! No database type appears in a signature, so every backend implements the same set.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde_json::Value;

use super::error::StoreError;
use super::delivery::OnCommit;
use super::message::{HistoryQuery, HistoryRow, MembershipChange, NewMessage, Recipient, Waiting};
use super::permissions::{Answer, ApproverRow, Filter as PermissionFilter, Request};
use super::records::{ClaimOutcome, NameClaim, NewInvite, TokenRole};
use super::domain::HealthRecord;
use super::domain::PushJob;
use super::domain::Subscription;
use super::domain::{Reactions, Toggled};
use super::domain::{Claim, Filter as TodoFilter, NewTodo, Todo, TodoPatch};
use super::domain::Principal;
use super::peers::{PeerNote, Sink};
use super::presence::{AgentRow, Dropped, PresenceChanges};

/// A store: every domain's operations. [`super::Store`] holds one behind an `Arc`.
#[async_trait]
pub trait Backend:
    Messages
    + Membership
    + Inbox
    + IdempotencyKeys
    + Workspaces
    + NameClaims
    + MessageReactions
    + Todos
    + PushSubscriptions
    + MediaFiles
    + HealthRecords
    + PermissionRequests
    + Peers
    + Presence
    + Send
    + Sync
    + 'static
{
    /// A trivial read: the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// What the hub generates for itself (the admin token, the push keys) where every replica
    /// finds it: the value stored under `name`, storing `generated` when there is none (the
    /// first writer wins). `None` when this backend leaves such values to files beside its
    /// database (SQLite).
    async fn kept_secret(&self, name: &str, generated: String) -> Result<Option<String>, StoreError>;
}

/// Messages: the group-committed append and the reads that never run ahead of live delivery.
#[async_trait]
pub trait Messages {
    /// Queues a message; `done` runs in the delivery task after its commit, in commit order.
    /// Waits only when the writer's queue is full (back-pressure on the sender).
    async fn append(&self, msg: NewMessage, done: OnCommit) -> Result<(), StoreError>;

    /// A channel's rows; returns only once their live frames were queued to their recipients.
    async fn history(&self, q: HistoryQuery) -> Result<Vec<HistoryRow>, StoreError>;

    /// The newest rows of all channels that `reader` may see; returns as `history` does.
    async fn recent(&self, reader: Principal, limit: i64) -> Result<Vec<HistoryRow>, StoreError>;

    /// Channels with rows `reader` may see.
    async fn channels(&self, reader: Principal) -> Result<Vec<String>, StoreError>;

    async fn message_count(&self) -> Result<u64, StoreError>;
}

/// Remembered channel membership.
#[async_trait]
pub trait Membership {
    /// Commits a membership change with the next message batch; returns once it is durable.
    async fn change_membership(&self, change: MembershipChange) -> Result<(), StoreError>;

    /// The channels an agent is remembered in (applied at its next register).
    async fn saved_channels(&self, agent: String) -> Result<Vec<String>, StoreError>;

    /// Agents remembered as members of `channel`, connected or not.
    async fn channel_members(&self, channel: String) -> Result<Vec<String>, StoreError>;
}

/// Offline mentions (see [`Waiting`]).
#[async_trait]
pub trait Inbox {
    /// Forgets inbox rows whose mention reached its agent live. Never waits: called from the
    /// delivery task, which the writer itself may be waiting for.
    fn delivered(&self, ids: Vec<i64>);

    /// The mentions waiting for an agent. Every batch committed before the call is delivered
    /// first, and delivered marks are applied before the read, so a mention that reached the
    /// agent live is not among them.
    async fn inbox(&self, workspace: String, agent: String, max_age_days: u64) -> Result<Waiting, StoreError>;

    /// Forgets the inbox rows `sent` to an agent, and its dropped count once `told`.
    async fn inbox_handed(&self, workspace: String, agent: String, sent: Vec<i64>, told: bool) -> Result<(), StoreError>;

    /// Puts the stored messages named by `msg_ids` back into an agent's inbox (their frames
    /// never left a socket that was cut), bounded by `max` as new mentions are.
    async fn requeue_inbox(&self, who: Recipient, msg_ids: Vec<String>, max: u64) -> Result<(), StoreError>;

    /// Drops mentions older than `max_age_days`; returns how many went.
    async fn expire_inbox(&self, max_age_days: u64) -> Result<usize, StoreError>;
}

/// Idempotency keys' expiry, in the steps [`super::Store::purge_expired_keys`] drives (see
/// [`super::keys`]).
#[async_trait]
pub trait IdempotencyKeys {
    /// Notes how far the messages reach at `now` (unix seconds) and returns the row ids whose
    /// keys expired and are not cleared yet: `(cleared through, expired through)`.
    async fn mark_keys(&self, now: i64) -> Result<Option<(i64, i64)>, StoreError>;

    /// Clears the keys of ids in `(from, to]`, at most [`super::keys::PURGE_STEP`] of them;
    /// returns the id it cleared through and how many keys went.
    async fn clear_keys(&self, from: i64, to: i64) -> Result<(i64, usize), StoreError>;

    /// After clearing through `to`: the marks below it are spent.
    async fn forget_key_marks(&self, to: i64) -> Result<(), StoreError>;
}

/// Workspaces, their channels, members, invites and hashed tokens. Workspaces are served as
/// the reference's JSON objects.
#[async_trait]
pub trait Workspaces {
    /// The workspace object of the reference, if it exists.
    async fn workspace(&self, id: String) -> Result<Option<Value>, StoreError>;

    async fn workspaces(&self) -> Result<Vec<Value>, StoreError>;

    async fn workspace_exists(&self, id: String) -> Result<bool, StoreError>;

    /// Creates a workspace with its channels and a first token: `(id, token)`, or `None` when
    /// the name is taken.
    async fn create_workspace(&self, name: String, description: String, channels: Vec<String>) -> Result<Option<(String, String)>, StoreError>;

    /// Deletes a workspace other than the default; returns the hashes of the tokens that went
    /// with it, or `None` when it did not exist.
    async fn delete_workspace(&self, id: String) -> Result<Option<Vec<String>>, StoreError>;

    async fn workspace_invites(&self, id: String) -> Result<Vec<Value>, StoreError>;

    async fn create_invite(&self, workspace_id: String, invite: NewInvite) -> Result<Value, StoreError>;

    /// Makes `agent` a member through an invite; the workspace joined, if the invite is valid.
    async fn redeem_invite(&self, token: String, agent: String) -> Result<Option<String>, StoreError>;

    /// The workspace a token (given by its hash) belongs to.
    async fn token_workspace(&self, hash: String) -> Result<Option<String>, StoreError>;

    async fn workspace_name(&self, id: String) -> Result<Option<String>, StoreError>;

    async fn add_workspace_channel(&self, id: String, channel: String) -> Result<(), StoreError>;

    /// Adds or updates a member with its role.
    async fn add_workspace_member(&self, id: String, agent: String, role: String) -> Result<(), StoreError>;

    /// Whether the invite existed.
    async fn revoke_invite(&self, id: String, invite: String) -> Result<bool, StoreError>;

    /// A workspace's tokens, newest first, without their secrets: an id (hash prefix) and a hint.
    async fn workspace_tokens(&self, id: String) -> Result<Vec<Value>, StoreError>;

    /// Creates a token; returns it (only its hash is kept).
    async fn create_token(&self, workspace_id: String, label: String, role: TokenRole) -> Result<String, StoreError>;

    /// Revokes a token given as itself or by id; returns the hashes revoked.
    async fn revoke_token(&self, workspace_id: String, token_or_id: String) -> Result<Vec<String>, StoreError>;

    /// Creates the `default` workspace (with `#general`) on first start.
    async fn ensure_default_workspace(&self) -> Result<(), StoreError>;
}

/// Which workspace holds which agent name (rules and cache in `hub::state::names`).
#[async_trait]
pub trait NameClaims {
    /// Claims by name; only `workspace`'s when given.
    async fn name_claims(&self, workspace: Option<String>) -> Result<Vec<NameClaim>, StoreError>;

    /// Records each `(name, workspace)` claim not yet held, first in the batch wins, within
    /// `limit` names per workspace (the admin's `""` has none), in one transaction. Names
    /// compare without ASCII case.
    async fn record_name_claims(&self, claims: Vec<(String, String)>, limit: u64) -> Result<Vec<ClaimOutcome>, StoreError>;

    /// Whether anybody held the name.
    async fn release_name(&self, name: String) -> Result<bool, StoreError>;

    /// Frees every name of a workspace; returns them.
    async fn release_workspace_names(&self, workspace: String) -> Result<Vec<String>, StoreError>;
}

/// One row per (message, emoji, reactor), readable only with its message.
#[async_trait]
pub trait MessageReactions {
    /// Adds the reaction, or removes it when `who` already gave it; `None` when no message
    /// `scope` may read has that id.
    async fn toggle_reaction(&self, id: String, emoji: String, who: String, scope: Option<String>) -> Result<Option<Toggled>, StoreError>;

    /// Reactions of the given messages that `reader` may read; messages without any are left out.
    async fn reactions_of(&self, reader: &Principal, ids: Vec<String>) -> Result<BTreeMap<String, Reactions>, StoreError>;
}

/// The hub's task list (types and validation in `hub::features::todos`).
#[async_trait]
pub trait Todos {
    /// Tasks by priority (high first), then unfinished before done, then newest first.
    async fn todos(&self, filter: TodoFilter) -> Result<Vec<Todo>, StoreError>;

    async fn todo(&self, id: i64) -> Result<Option<Todo>, StoreError>;

    async fn create_todo(&self, new: NewTodo) -> Result<Todo, StoreError>;

    /// Applies a patch: `done` stamps `closed_at`; leaving `done` clears it; `open` with no
    /// assignee given clears the assignee. The inner `Err` is a patch that would leave the
    /// task inconsistent, `None` an unknown id.
    async fn update_todo(&self, id: i64, patch: TodoPatch) -> Result<Result<Option<Todo>, String>, StoreError>;

    /// Claims an open task for `who`; claiming again by the same name is a no-op.
    async fn claim_todo(&self, id: i64, who: String) -> Result<Claim, StoreError>;

    /// Marks a task done (idempotent); `None` for an unknown id.
    async fn close_todo(&self, id: i64) -> Result<Option<Todo>, StoreError>;

    /// Whether the task existed.
    async fn delete_todo(&self, id: i64) -> Result<bool, StoreError>;
}

/// Browsers to notify (types and checks in `hub::features::push::subscriptions`).
#[async_trait]
pub trait PushSubscriptions {
    /// Inserts or replaces by endpoint; returns the subscriber's count of subscriptions, or `None`
    /// when the endpoint belongs to another workspace (only the admin may take it over).
    async fn upsert_push_subscription(&self, s: Subscription, admin: bool) -> Result<Option<usize>, StoreError>;

    /// Removes a subscription; with `workspace`, only one of that workspace.
    async fn remove_push_subscription(&self, endpoint: &str, workspace: Option<&str>) -> Result<bool, StoreError>;

    /// How many subscriptions there are: all of them, or with `workspace` that workspace's.
    async fn count_push_subscriptions(&self, workspace: Option<String>) -> Result<u64, StoreError>;

    /// Every subscription, oldest first.
    async fn push_subscriptions(&self) -> Result<Vec<Subscription>, StoreError>;

    /// Subscriptions that hear a permission request of `workspace`: the admin token's, and those
    /// made with a live approver token that may answer it (see `permissions::Answerer::sees`).
    async fn approver_subscriptions(&self, workspace: &str) -> Result<Vec<Subscription>, StoreError>;

    /// Subscriptions of the mentioned people, and those opted into the channel, never the
    /// sender's. A workspace's subscription hears only senders of its own workspace; the
    /// admin's hear everyone.
    async fn push_targets(&self, job: &PushJob) -> Result<Vec<Subscription>, StoreError>;
}

/// Uploaded media's owners.
#[async_trait]
pub trait MediaFiles {
    /// Records that `workspace` uploaded the media file at `path` (`month/name`).
    async fn record_media(&self, path: String, workspace: String) -> Result<(), StoreError>;

    async fn media_owned_by(&self, path: String, workspace: String) -> Result<bool, StoreError>;
}

/// Agents' latest health records.
#[async_trait]
pub trait HealthRecords {
    /// Keeps the latest health record of an agent of a workspace.
    async fn save_health(&self, workspace: String, agent: String, record: HealthRecord) -> Result<(), StoreError>;

    /// Every stored health record by (workspace, agent), for the registry at start.
    async fn health_records(&self) -> Result<HashMap<(String, String), HealthRecord>, StoreError>;
}

/// Tool-permission requests and their answers (see [`super::permissions`]). A row changes only
/// while pending, and only once.
#[async_trait]
pub trait PermissionRequests {
    async fn permission(&self, id: String) -> Result<Option<Request>, StoreError>;

    /// The request a bridge sent with this frame id before (a re-announce after a reconnect).
    async fn permission_by_frame(&self, workspace: String, agent: String, frame_id: String) -> Result<Option<Request>, StoreError>;

    /// Stores a new pending request; false when its id is taken (pick another).
    async fn insert_permission(&self, r: Request) -> Result<bool, StoreError>;

    /// Answers a request still pending and not past its expiry; the inner `Err` gives the row as
    /// it stands when it was not (or `None` for an unknown id).
    async fn answer_permission(&self, id: String, a: Answer) -> Result<Result<Request, Option<Request>>, StoreError>;

    /// Marks these requests expired where they are still pending; returns those it changed.
    async fn expire_permissions(&self, ids: Vec<String>, at_ms: i64) -> Result<Vec<Request>, StoreError>;

    /// Every pending request, oldest first.
    async fn pending_permissions(&self) -> Result<Vec<Request>, StoreError>;

    /// Newest first.
    async fn permissions(&self, filter: PermissionFilter) -> Result<Vec<Request>, StoreError>;

    /// Deletes requests answered (or expired) before `before_ms`; returns how many went.
    async fn prune_permissions(&self, before_ms: i64) -> Result<usize, StoreError>;

    /// The approver an approver token (by its hash) names.
    async fn approver(&self, token_hash: String) -> Result<Option<ApproverRow>, StoreError>;
}

/// Other hub processes on the same database (see [`super::peers`]).
#[async_trait]
pub trait Peers {
    /// Whether other processes may share this database. Without them (SQLite) the registry
    /// lists every agent, and nothing is told or heard.
    fn shared(&self) -> bool;

    /// This process's id among those on the database (empty without others).
    fn replica(&self) -> &str;

    /// Starts handing what other processes commit and say to `sink`. A store that one process
    /// owns (SQLite) has no peers and never calls it.
    fn follow_peers(&self, sink: Sink);

    /// Tells every other process on the database; nobody to tell without peers.
    async fn tell_peers(&self, note: PeerNote) -> Result<(), StoreError>;
}

/// The agents of every hub process on the database (see [`super::presence`]). Times are the
/// database's clock, so processes on several machines agree on who is silent.
#[async_trait]
pub trait Presence {
    /// Marks this process alive and writes its changed agents, in one statement; true when the
    /// process was not known (its first call, or it was taken for dead meanwhile and its rows
    /// deleted: the caller writes all its agents again).
    async fn publish_presence(&self, changes: PresenceChanges) -> Result<bool, StoreError>;

    /// The agents of the other processes heard from within the last `alive_ms`.
    async fn fleet_agents(&self, alive_ms: u64) -> Result<Vec<AgentRow>, StoreError>;

    /// Deletes the processes silent for longer than `dead_ms` and their agents; returns those
    /// agents that no live process holds now. Of several processes reaping at once, one gets them.
    async fn reap_replicas(&self, dead_ms: u64) -> Result<Vec<Dropped>, StoreError>;

    /// This process stops: it counts as dead at once, so listings drop its agents and the
    /// next reap of a live process deletes them and announces them gone.
    async fn leave_fleet(&self) -> Result<(), StoreError>;
}
