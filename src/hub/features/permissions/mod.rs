//! The permission relay: an agent's bridge forwards Claude Code's tool-permission prompts as
//! `permission_request` frames; the hub keeps each under a short id of its own (Claude's
//! `request_id` is unique only within one session), tells the people who may answer (approver
//! dashboards, Web Push, a note in the approvals channel), and sends the first answer back to
//! the agent's current socket as `permission_verdict`. A request expires after
//! `PERMISSION_EXPIRY_SECS`, or `PERMISSION_GRACE_SECS` after its agent's socket went away
//! without coming back, and then cannot be answered (`permission_expired` tells the bridge).
//! With replicas, each change is told to the other hub processes (`PeerNote::Permission`): the
//! one holding the agent's socket sends the verdict, and every one updates its watchers.
//!
//! Who answers: the admin token, or an approver token (a workspace token naming one person)
//! of the asking agent's workspace; never the token the asking socket came with.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::hub::HubState;
use crate::hub::socket::conn::Conn;
use crate::hub::features::push;
use crate::hub::pipeline::router::Origin;
use crate::hub::store::permissions::{Answer, Request};
use crate::hub::store::StoreError;
use crate::hub::state::auth::Principal;
use crate::hub::state::fleet;
use crate::hub::store::peers::PeerNote;
use crate::protocol::{ErrorCode, Frame, FrameError, Kind, PermissionAsk, Post, SERVER_SENDER};

mod answerer;
mod tracker;

pub use answerer::{AnswerError, Answerer, Behavior};
pub use tracker::{Permissions, Update};

/// Characters of hub ids: lowercase letters and digits without the easily confused l, o, 0, 1,
/// so an id read on a phone can be typed back (`yes k3m9qp`).
const ID_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
const ID_LEN: usize = 6;
/// Most rows one list returns.
pub const LIST_LIMIT: i64 = 500;
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn iso(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms).map_or(Value::Null, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false).into())
}

/// A request as the API and the live updates show it: the row plus ISO times and `behavior`.
pub fn view(r: &Request) -> Value {
    let mut v = serde_json::to_value(r).expect("requests serialize");
    v["created_at"] = iso(r.created_ms);
    v["expires_at"] = iso(r.expires_ms);
    v["answered_at"] = r.answered_ms.map_or(Value::Null, iso);
    v["behavior"] = r.behavior().map_or(Value::Null, Value::from);
    v
}

fn new_id() -> String {
    let mut rng = rand::rng();
    (0..ID_LEN).map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char).collect()
}

/// A verdict or expiry for the bridge.
pub fn outcome_frame(r: &Request) -> Frame {
    match r.behavior() {
        Some(b) => Frame::server(Kind::PermissionVerdict, json!({"id": r.id, "request_id": r.request_id, "behavior": b})),
        None => Frame::server(Kind::PermissionExpired, json!({"id": r.id, "request_id": r.request_id})),
    }
}

/// `yes <id>` / `no <id>`, as typed in the approvals channel.
fn chat_command(content: &str) -> Option<(Behavior, String)> {
    let mut words = content.split_whitespace();
    let behavior = match words.next()?.to_ascii_lowercase().as_str() {
        "yes" | "allow" => Behavior::Allow,
        "no" | "deny" => Behavior::Deny,
        _ => return None,
    };
    let id = words.next()?.to_ascii_lowercase();
    (words.next().is_none() && id.len() == ID_LEN && id.bytes().all(|b| ID_ALPHABET.contains(&b))).then_some((behavior, id))
}

impl HubState {
    /// A bridge's `permission_request` from registered agent `agent`: stores it, or finds the
    /// one this frame id announced before a reconnect (whose outcome, if decided, the caller
    /// sends again after the ack).
    pub async fn ask_permission(self: &Arc<Self>, conn: &Conn, agent: &str, frame_id: &str, ask: PermissionAsk) -> Result<Request, FrameError> {
        let PermissionAsk { request_id, tool_name, description, input_preview } = ask;
        let store_error = |e: StoreError| FrameError::new(ErrorCode::StoreUnavailable, e.to_string());
        let workspace = conn.principal.workspace_id().to_string();
        let known = self.store.permission_by_frame(workspace.clone(), agent.to_string(), frame_id.to_string()).await;
        if let Some(known) = known.map_err(store_error)? {
            // Asked on another process that may be gone: its deadline now counts here.
            if known.status == "pending" {
                self.permissions.track(&known);
            }
            return Ok(known);
        }
        let now = now_ms();
        let mut r = Request {
            id: new_id(),
            workspace_id: workspace,
            agent: agent.to_string(),
            request_id,
            tool_name,
            description,
            input_preview,
            frame_id: frame_id.to_string(),
            asker_token_hash: conn.token_hash.clone(),
            created_ms: now,
            expires_ms: now + (self.config.permission_expiry_secs.max(1) * 1000) as i64,
            status: "pending".into(),
            answered_by: String::new(),
            answered_ms: None,
            answered_from: String::new(),
            answered_via: String::new(),
        };
        // A taken id (one in a billion) is drawn again.
        loop {
            if self.store.insert_permission(r.clone()).await.map_err(store_error)? {
                break;
            }
            r.id = new_id();
        }
        tracing::info!(id = %r.id, agent = %r.agent, tool = %r.tool_name, "permission requested");
        self.permissions.track(&r);
        self.announce("requested", &r).await;
        self.note_in_channel(&r, format!(
            "{} asks to use {} (request {}). Approvers answer `yes {}` or `no {}` here, or in the dashboard.",
            r.agent, r.tool_name, r.id, r.id, r.id
        ))
        .await;
        self.push_to_approvers(&r).await;
        Ok(r)
    }

    /// Answers request `id` for `who`, from client address `from` over `via` (`rest`, `chat`).
    pub async fn answer_permission(
        self: &Arc<Self>,
        id: &str,
        behavior: Behavior,
        who: &Answerer,
        from: Option<IpAddr>,
        via: &'static str,
    ) -> Result<Request, AnswerError> {
        let found = self.store.permission(id.to_string()).await?;
        let Some(found) = found.filter(|r| who.sees(&r.workspace_id)) else { return Err(AnswerError::NotFound(id.to_string())) };
        if who.token_hash().is_some() && who.token_hash() == found.asker_token_hash.as_deref() {
            return Err(AnswerError::OwnToken);
        }
        let answer = Answer {
            status: behavior.status(),
            by: who.name().to_string(),
            from: from.map(|a| a.to_string()).unwrap_or_default(),
            via,
            at_ms: now_ms(),
        };
        match self.store.answer_permission(id.to_string(), answer).await? {
            Ok(r) => {
                tracing::info!(id = %r.id, agent = %r.agent, by = %r.answered_by, status = %r.status, from = %r.answered_from, "permission answered");
                self.permissions.untrack(&r.id);
                self.tell_agent(&r);
                self.announce("answered", &r).await;
                let verdict = if behavior == Behavior::Allow { "allowed" } else { "denied" };
                self.note_in_channel(&r, format!("Request {} ({} using {}) {verdict} by {}.", r.id, r.agent, r.tool_name, r.answered_by)).await;
                Ok(r)
            }
            Err(None) => Err(AnswerError::NotFound(id.to_string())),
            Err(Some(r)) => match r.behavior() {
                Some(b) => Err(AnswerError::Answered { id: r.id, behavior: b, by: r.answered_by }),
                // Expired, or past its time and about to be marked so.
                None => Err(AnswerError::Expired(r.id)),
            },
        }
    }

    /// `yes <id>` / `no <id>` in the approvals channel from a socket that came with an approver
    /// token answers; anything else there is an ordinary message.
    pub fn answer_from_chat(self: &Arc<Self>, conn: &Conn, frame: &Frame) {
        if self.config.approvals_channel.is_empty() || frame.channel() != self.config.approvals_channel {
            return;
        }
        let (Some((behavior, id)), Some(hash)) = (chat_command(frame.content()), conn.token_hash.clone()) else { return };
        let (st, from) = (self.clone(), conn.client_addr);
        tokio::spawn(async move {
            let who = match Answerer::of_hash(&st, hash).await {
                Ok(Some(who)) => who,
                Ok(None) => return tracing::debug!(id = %id, "a chat answer from a token that is not an approver's; ignored"),
                Err(e) => return tracing::warn!(error = %e, "cannot check a chat answer's token"),
            };
            if let Err(e) = st.answer_permission(&id, behavior, &who, from, "chat").await {
                tracing::info!(id = %id, error = %e, "chat answer refused");
            }
        });
    }

    /// Sends the request's outcome to its agent's current socket, if it is connected.
    fn tell_agent(&self, r: &Request) {
        let inner = self.registry.read();
        if let Some(a) = inner.agents.get(&r.agent).filter(|a| a.info.workspace_id == r.workspace_id) {
            a.conn.send_text(outcome_frame(r).to_json(), &self.metrics);
        }
    }

    /// Tells this process's watchers, then the other processes.
    async fn announce(&self, event: &str, r: &Request) {
        self.publish(event, r);
        let note = PeerNote::Permission { event: event.to_string(), id: r.id.clone() };
        if let Err(e) = self.store.tell_peers(note).await {
            tracing::warn!(id = %r.id, error = %e, "cannot tell the other hubs of a permission request");
        }
    }

    /// Another process changed request `id`: its agent, if connected here, gets the outcome,
    /// and the watchers here the update.
    pub fn permission_heard(self: &Arc<Self>, event: String, id: String) {
        let st = self.clone();
        tokio::spawn(async move {
            let r = match st.store.permission(id.clone()).await {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => return tracing::warn!(id = %id, error = %e, "cannot read a permission request another hub changed"),
            };
            if r.status != "pending" {
                st.permissions.untrack(&r.id);
                st.tell_agent(&r);
            }
            st.publish(&event, &r);
        });
    }

    /// The agents of a process found dead: their pending requests count down here.
    pub async fn adopt_pending_permissions(&self, agents: &[String]) {
        match self.store.pending_permissions().await {
            Ok(pending) => pending.iter().filter(|r| agents.contains(&r.agent)).for_each(|r| self.permissions.track(r)),
            Err(e) => tracing::warn!(error = %e, "cannot read the pending permission requests of a dead hub's agents"),
        }
    }

    fn publish(&self, event: &str, r: &Request) {
        let frame = Frame::server(Kind::PermissionUpdate, json!({"event": event, "permission": view(r)}));
        let _ = self.permissions.updates.send(Arc::new(Update { workspace_id: r.workspace_id.clone(), text: frame.to_json() }));
    }

    /// A short message in the workspace's approvals channel, never with the preview: every
    /// agent in the channel reads it, and tool arguments may hold secrets.
    async fn note_in_channel(self: &Arc<Self>, r: &Request, text: String) {
        let channel = &self.config.approvals_channel;
        if channel.is_empty() {
            return;
        }
        let frame = Frame::new(Kind::Message, SERVER_SENDER, json!({"channel": channel, "content": text}));
        let origin = Origin::Hub { workspace: r.workspace_id.clone() };
        let submitted = match Post::from_frame(frame, &self.limits()) {
            Ok(post) => self.submit(post, origin).await,
            Err(e) => Err(e),
        };
        if let Err(e) = submitted {
            tracing::warn!(error = %e, "cannot post to the approvals channel");
        }
    }

    /// Web Push (Urgency high) to every browser subscribed with a token that may answer.
    async fn push_to_approvers(&self, r: &Request) {
        let Some(keys) = self.push.keys.clone() else { return };
        let targets = match self.store.approver_subscriptions(&r.workspace_id).await {
            Ok(t) if !t.is_empty() => t,
            Ok(_) => return,
            Err(e) => return tracing::warn!(error = %e, "cannot read approvers' push subscriptions"),
        };
        let note = push::Notification {
            title: format!("{} asks to use {}", r.agent, r.tool_name),
            body: format!("Request {}: allow or deny it in the dashboard.", r.id),
            channel: if self.config.approvals_channel.is_empty() { "#approvals".into() } else { self.config.approvals_channel.clone() },
            urgent: true,
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            let http = crate::http_client::client(Duration::from_secs(15));
            for sub in targets {
                push::deliver(&http, &keys, &store, &sub, &note).await;
            }
        });
    }

    /// Nobody is connected here yet: every agent has the grace period to come back, except
    /// those another replica holds, whose requests that replica counts down (and this one
    /// adopts if that replica dies).
    async fn track_pending_at_start(&self) {
        let pending = match self.store.pending_permissions().await {
            Ok(p) => p,
            Err(e) => return tracing::error!(error = %e, "cannot read pending permission requests; none will expire"),
        };
        let elsewhere: HashSet<String> = fleet::remote(self, &Principal::Admin).await.into_iter().map(|a| a.name).collect();
        for r in pending.iter().filter(|r| !elsewhere.contains(&r.agent)) {
            self.permissions.track(r);
            self.permissions.agent_left(&r.agent);
        }
    }

    /// Expires what is due, then sleeps until the next deadline or a change; until the hub stops.
    pub async fn expire_permissions(self: Arc<Self>) {
        self.track_pending_at_start().await;
        let grace_ms = (self.config.permission_grace_secs * 1000) as i64;
        let retention_ms = (self.config.permission_retention_days * 86_400_000) as i64;
        let mut stopping = self.shutdown.clone();
        let mut next_prune = 0;
        loop {
            let changed = self.permissions.changed.notified();
            let now = now_ms();
            let (due, next) = self.permissions.due(now, grace_ms);
            if !due.is_empty() {
                match self.store.expire_permissions(due.clone(), now).await {
                    Ok(expired) => {
                        // Decided on another process meanwhile: nothing left to expire.
                        for id in due.iter().filter(|id| !expired.iter().any(|r| r.id == **id)) {
                            self.permissions.untrack(id);
                        }
                        for r in expired {
                            tracing::info!(id = %r.id, agent = %r.agent, "permission request expired");
                            self.permissions.untrack(&r.id);
                            self.tell_agent(&r);
                            self.announce("expired", &r).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "expiring permission requests failed; retrying in a second");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                continue;
            }
            if now >= next_prune {
                match self.store.prune_permissions(now - retention_ms).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "pruned answered permission requests"),
                    Err(e) => tracing::warn!(error = %e, "pruning permission requests failed"),
                }
                next_prune = now + 3_600_000;
            }
            let wait = next.map_or(Duration::from_secs(3600), |n| Duration::from_millis((n - now).max(1) as u64));
            tokio::select! {
                _ = tokio::time::sleep(wait.min(Duration::from_secs(3600))) => {}
                _ = changed => {}
                _ = stopping.wait_for(|s| *s) => break,
            }
        }
    }
}

/// What the ack of a `permission_request` adds: `{permission_id, status}`.
pub fn ack_extra(r: &Request) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("permission_id".into(), r.id.clone().into());
    m.insert("status".into(), r.status.clone().into());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_commands() {
        assert_eq!(chat_command("yes k3m9qp"), Some((Behavior::Allow, "k3m9qp".into())));
        assert_eq!(chat_command("  No   K3M9QP "), Some((Behavior::Deny, "k3m9qp".into())));
        assert_eq!(chat_command("yes k3m9qp please"), None);
        assert_eq!(chat_command("yes k3m9q"), None);
        assert_eq!(chat_command("yes k3m9q0"), None, "0 is not in the alphabet");
        assert_eq!(chat_command("maybe k3m9qp"), None);
        assert_eq!(chat_command(""), None);
    }

    #[test]
    fn ids_use_the_alphabet() {
        for _ in 0..100 {
            let id = new_id();
            assert_eq!(id.len(), ID_LEN);
            assert!(chat_command(&format!("yes {id}")).is_some(), "{id}");
        }
    }
}
