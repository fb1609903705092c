//! The agent-bridge calls: reactions, health, task, subagents, filtered history, and the
//! connection status.

use serde_json::{Map, Value, json};

use super::{ClientError, ConnectionStatus, OrochiClient};
use crate::protocol::Kind;

/// A history read with the hub's filters; empty strings mean "no filter".
#[derive(Debug, Clone, Default)]
pub struct HistorySearch {
    pub channel: String,
    pub limit: i64,
    pub since: String,
    pub sender: String,
    pub contains: String,
    /// A root `msg_id`: only that message and the replies under it, oldest first.
    pub thread: String,
}

impl OrochiClient {
    /// The ack's payload, which carries what the hub did.
    async fn call(&self, kind: Kind, payload: Value) -> Result<Map<String, Value>, ClientError> {
        Ok(self.request(self.frame(kind, payload)).await?.payload)
    }

    /// Toggles a reaction; the answer has `action` (`add`/`remove`) and the message's `reactions`.
    pub async fn react(&self, message_id: &str, emoji: &str) -> Result<Map<String, Value>, ClientError> {
        self.call(Kind::React, json!({"message_id": message_id, "emoji": emoji})).await
    }

    /// Records a health state for `agent` (this agent when `None`).
    pub async fn record_health(&self, agent: Option<&str>, state: &str, reason: &str) -> Result<Map<String, Value>, ClientError> {
        let mut payload = json!({"state": state, "reason": reason});
        if let Some(a) = agent {
            payload["agent"] = a.into();
        }
        self.call(Kind::Health, payload).await
    }

    /// Sets the current task; it is announced again after every reconnect.
    pub async fn set_task(&self, task: &str) -> Result<(), ClientError> {
        self.call(Kind::TaskUpdate, json!({"task": task})).await?;
        self.shared.remember("current_task", task.into());
        Ok(())
    }

    /// Replaces the subagent list (`[{name, task, status}]`); announced again after reconnects.
    pub async fn set_subagents(&self, subagents: Vec<Value>) -> Result<usize, ClientError> {
        let reply = self.call(Kind::SubagentsUpdate, json!({"subagents": subagents})).await?;
        self.shared.remember("subagents", Value::Array(subagents));
        Ok(reply.get("subagent_count").and_then(Value::as_u64).unwrap_or(0) as usize)
    }

    /// Sends a frame the hub must know on every connection: it is sent again after each
    /// reconnect's register, with the same id, until [`OrochiClient::withdraw`]. Returns the
    /// ack's payload; a refusal withdraws it.
    pub async fn announce(&self, key: &str, kind: Kind, payload: Value) -> Result<Map<String, Value>, ClientError> {
        let frame = self.frame(kind, payload);
        self.shared.stand(key, frame.clone());
        let reply = self.request(frame).await;
        if matches!(reply, Err(ClientError::Refused { .. })) {
            self.shared.withdraw(key);
        }
        Ok(reply?.payload)
    }

    pub fn withdraw(&self, key: &str) {
        self.shared.withdraw(key);
    }

    /// History rows, newest first (a thread oldest first), filtered by the hub.
    pub async fn search_history(&self, q: &HistorySearch) -> Result<Vec<Value>, ClientError> {
        let mut payload = json!({"channel": q.channel, "limit": q.limit});
        for (key, value) in [("since", &q.since), ("sender", &q.sender), ("contains", &q.contains), ("thread", &q.thread)] {
            if !value.is_empty() {
                payload[key] = value.as_str().into();
            }
        }
        let reply = self.request(self.frame(Kind::Query, payload)).await?;
        match reply.payload.get("history") {
            Some(Value::Array(rows)) => Ok(rows.clone()),
            _ => Err(ClientError::Protocol("history reply without rows".into())),
        }
    }

    /// Connection state, uptime, reconnects and the age of the last pong.
    pub fn status(&self) -> ConnectionStatus {
        self.shared.snapshot()
    }

    /// The number of successful reconnects, changing as soon as the client has registered
    /// again (its channels' replay requested): `changed().await` waits for the next one.
    pub fn reconnects(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.watch_reconnects()
    }

    /// Whether a connection to the hub is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.is_connected()
    }
}
