//! The permission relay (Claude Code's channel permission protocol): with the experimental
//! capability `claude/channel/permission` declared, Claude Code sends each tool-permission
//! prompt as `notifications/claude/channel/permission_request`; the bridge forwards it to the
//! hub as a `permission_request` frame (announced again after every reconnect, so the verdict
//! reaches the current socket) and turns the hub's `permission_verdict` into
//! `notifications/claude/channel/permission` `{request_id, behavior}`: once, and only for a
//! request it relayed that is still pending. The terminal's own dialog stays open; the first
//! answer wins.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::RoleServer;
use rmcp::model::{CustomNotification, ServerNotification};
use rmcp::service::Peer;
use serde::Deserialize;
use serde_json::json;

use super::link::{Link, State};
use crate::client::ClientError;
use crate::protocol::{Frame, Kind};

pub const CAPABILITY: &str = "claude/channel/permission";
/// What Claude Code sends for each prompt.
pub const REQUEST_METHOD: &str = "notifications/claude/channel/permission_request";
/// What the bridge answers with.
pub const VERDICT_METHOD: &str = "notifications/claude/channel/permission";

#[derive(Debug, Deserialize)]
struct Prompt {
    request_id: String,
    tool_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    input_preview: String,
}

/// Requests relayed and not yet decided: Claude's `request_id` → the hub's id once acked.
#[derive(Default)]
pub struct Relay {
    pending: Mutex<HashMap<String, Option<String>>>,
}

impl Relay {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<String>>> {
        self.pending.lock().expect("relay lock")
    }

    /// Forwards one prompt. Without a hub connection yet, the prompt stays in the terminal.
    pub async fn ask(&self, link: &Link, params: Option<serde_json::Value>) {
        let prompt: Prompt = match params.map(serde_json::from_value).transpose() {
            Ok(Some(p)) => p,
            Ok(None) => return tracing::warn!("permission_request without params; ignored"),
            Err(e) => return tracing::warn!(error = %e, "malformed permission_request; ignored"),
        };
        let State::Ready(client) = link.state() else {
            return tracing::warn!(request_id = %prompt.request_id, "not connected to the hub yet; the prompt stays in the terminal");
        };
        self.pending().insert(prompt.request_id.clone(), None);
        let payload = json!({"request_id": prompt.request_id, "tool_name": prompt.tool_name,
            "description": prompt.description, "input_preview": prompt.input_preview});
        match client.announce(&prompt.request_id, Kind::PermissionRequest, payload).await {
            Ok(ack) => {
                let id = ack.get("permission_id").and_then(|v| v.as_str()).map(String::from);
                tracing::info!(request_id = %prompt.request_id, id = ?id, tool = %prompt.tool_name, "permission request relayed");
                if let Some(slot) = self.pending().get_mut(&prompt.request_id) {
                    *slot = id;
                }
            }
            Err(e @ ClientError::Refused { .. }) => {
                tracing::warn!(request_id = %prompt.request_id, error = %e, "the hub refused the permission request");
                self.pending().remove(&prompt.request_id);
            }
            // Still standing: announced again once the connection is back.
            Err(e) => tracing::info!(request_id = %prompt.request_id, error = %e, "permission request not acked yet; it is announced again on reconnect"),
        }
    }

    /// A hub `permission_verdict` or `permission_expired`: forgets the request and, for a
    /// verdict on one still pending here, tells Claude Code. Returns false once the MCP client
    /// is gone.
    pub async fn outcome(&self, link: &Link, frame: &Frame, peer: &Peer<RoleServer>) -> bool {
        let Some(request_id) = frame.str_field("request_id") else { return true };
        let hub_id = frame.str_field("id");
        let was_pending = {
            let mut pending = self.pending();
            // A verdict for another request with the same Claude id (an earlier session's) is not ours.
            let ours = pending.get(request_id).is_some_and(|known| known.is_none() || known.as_deref() == hub_id);
            if ours {
                pending.remove(request_id);
            }
            ours
        };
        if !was_pending {
            return true;
        }
        if let State::Ready(client) = link.state() {
            client.withdraw(request_id);
        }
        let Some(behavior) = frame.str_field("behavior").filter(|b| matches!(*b, "allow" | "deny")) else {
            tracing::info!(request_id, "permission request expired at the hub");
            return true;
        };
        tracing::info!(request_id, behavior, "permission verdict relayed to Claude Code");
        let params = json!({"request_id": request_id, "behavior": behavior});
        let note = ServerNotification::CustomNotification(CustomNotification::new(VERDICT_METHOD, Some(params)));
        peer.send_notification(note).await.is_ok()
    }
}
