//! What each tool does. Hub calls go over the live socket (they work with workspace tokens);
//! reads of channel and agent lists and file transfers go over REST.

use std::collections::BTreeSet;
use std::time::Duration;

use rmcp::model::JsonObject;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::error::{Code, ToolError, ToolResult};
use super::server::Inner;
use super::tools::*;
use crate::client::{HistorySearch, OrochiClient};

/// How long a hub request may take before the tool answers agent_offline.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_FILES: usize = 10;

/// `#name` (added when missing) or `dm:…`; printable, at most 256 characters.
pub fn channel_name(raw: &str) -> ToolResult<String> {
    let raw = raw.trim();
    let name = if raw.starts_with('#') || raw.starts_with("dm:") { raw.to_string() } else { format!("#{raw}") };
    if raw.is_empty() || name.chars().count() > 256 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ToolError::invalid(format!("{raw:?} is not a channel name"), "channels look like #general"));
    }
    Ok(name)
}

async fn timed<T>(f: impl Future<Output = Result<T, crate::client::ClientError>>) -> ToolResult<T> {
    match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => r.map_err(ToolError::from),
        Err(_) => Err(ToolError::new(Code::AgentOffline, "the hub did not answer within 10 s", "retry; status shows the connection")),
    }
}

fn optional(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

impl Inner {
    fn live(&self) -> ToolResult<std::sync::Arc<OrochiClient>> {
        self.link.client()
    }

    /// Channels the hub knows: with members now, or with stored messages.
    async fn channels(&self) -> ToolResult<BTreeSet<String>> {
        match self.rest.get("/api/channels", &[]).await? {
            Value::Object(m) => Ok(m.keys().cloned().collect()),
            _ => Err(ToolError::internal("channel list is not an object")),
        }
    }

    /// The normalized name of a channel the hub knows, else not_found.
    async fn known(&self, raw: &str) -> ToolResult<String> {
        let name = channel_name(raw)?;
        let all = self.channels().await?;
        if all.contains(&name) {
            return Ok(name);
        }
        let some: Vec<&String> = all.iter().take(20).collect();
        Err(ToolError::new(Code::NotFound, format!("unknown channel {name}"), format!("known channels: {some:?}")))
    }

    fn check_text(&self, text: &str) -> ToolResult<()> {
        let max = self.config.max_content_bytes as usize;
        if text.trim().is_empty() {
            return Err(ToolError::invalid("the text is empty", "write something"));
        }
        if text.len() > max {
            return Err(ToolError::invalid(format!("the text is {} bytes; the limit is {max}", text.len()), "split it or attach a file"));
        }
        Ok(())
    }

    async fn post(&self, channel: &str, text: &str, metadata: Map<String, Value>) -> ToolResult<Value> {
        let client = self.live()?;
        let meta = (!metadata.is_empty()).then_some(metadata);
        let r = timed(client.send(channel, text, meta)).await?;
        Ok(json!({"status": "sent", "channel": channel, "id": r.id, "seq": r.seq}))
    }

    pub async fn orochi_send(&self, a: SendArgs) -> ToolResult<Value> {
        self.check_text(&a.message)?;
        let channel = self.known(&a.channel).await?;
        self.post(&channel, &a.message, Map::new()).await
    }

    pub async fn orochi_who(&self) -> ToolResult<Value> {
        let agents = self.rest.get("/api/agents", &[]).await?;
        let list: Vec<Value> = agents
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        json!({"name": x["name"], "machine": x["machine"], "role": x["role"], "status": x["status"],
                            "current_task": x["current_task"], "channels": x["channels"], "subagents": x["subagents"], "health": x["health"]})
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({"count": list.len(), "agents": list}))
    }

    pub async fn orochi_channels(&self) -> ToolResult<Value> {
        Ok(json!({"channels": self.channels().await?, "subscribed": self.channels_joined}))
    }

    /// Both history tools; `bridge` adds reactions and absolute attachment URLs.
    pub async fn history(&self, a: HistoryArgs, default_limit: i64, bridge: bool) -> ToolResult<Value> {
        let limit = a.limit.unwrap_or(default_limit);
        if !(1..=1000).contains(&limit) {
            return Err(ToolError::invalid(format!("limit {limit} is out of range"), "use 1-1000"));
        }
        let channel = self.known(a.channel.as_deref().unwrap_or("#general")).await?;
        let thread = optional(&a.thread);
        let q = HistorySearch {
            channel: channel.clone(),
            limit,
            since: optional(&a.since),
            sender: optional(&a.sender),
            contains: optional(&a.contains),
            thread: thread.clone(),
        };
        let mut rows = timed(self.live()?.search_history(&q)).await?;
        // A thread comes oldest first already; other reads newest first.
        if thread.is_empty() {
            rows.reverse();
        }
        let reactions = if bridge && !rows.is_empty() {
            let ids: Vec<&str> = rows.iter().filter_map(|r| r["msg_id"].as_str()).collect();
            self.rest.get("/api/reactions", &[("message_ids", ids.join(","))]).await?
        } else {
            Value::Null
        };
        let messages: Vec<Value> = rows
            .iter()
            .map(|r| {
                let attachments: Vec<Value> = r["attachments"].as_array().into_iter().flatten()
                    .map(|x| json!({"filename": x["filename"], "url": self.rest.absolute(x["url"].as_str().unwrap_or_default())}))
                    .collect();
                let mut m = json!({"msg_id": r["msg_id"], "ts": r["ts"], "sender": r["sender"], "content": r["content"], "seq": r["seq"]});
                if !attachments.is_empty() {
                    m["attachments"] = attachments.into();
                }
                if let Some(parent) = r["metadata"]["reply_to"].as_str() {
                    m["reply_to"] = parent.into();
                }
                if let Some(reacts) = r["msg_id"].as_str().and_then(|id| reactions.get(id)) {
                    m["reactions"] = reacts.clone();
                }
                m
            })
            .collect();
        Ok(json!({"channel": channel, "count": messages.len(), "messages": messages}))
    }

    pub async fn reply(&self, a: ReplyArgs) -> ToolResult<Value> {
        self.check_text(&a.text)?;
        let files = a.files.unwrap_or_default();
        if files.len() > MAX_FILES {
            return Err(ToolError::invalid(format!("{} files; at most {MAX_FILES}", files.len()), "send fewer files per reply"));
        }
        let channel = self.known(&a.channel).await?;
        self.live()?;
        // Check every path before uploading any, so a bad one uploads nothing.
        for f in &files {
            self.dirs.readable(f)?;
        }
        let mut attachments = Vec::new();
        for f in &files {
            attachments.push(super::media::upload(&self.dirs, &self.rest, f, self.config.media_max_size).await?);
        }
        let mut meta = Map::new();
        if let Some(r) = a.reply_to.filter(|r| !r.is_empty()) {
            meta.insert("reply_to".into(), r.into());
        }
        if !attachments.is_empty() {
            meta.insert("attachments".into(), attachments.clone().into());
        }
        let mut out = self.post(&channel, &a.text, meta).await?;
        out["attachments"] = attachments.into();
        Ok(out)
    }

    pub async fn react(&self, a: ReactArgs) -> ToolResult<Value> {
        let reply = timed(self.live()?.react(&a.message_id, &a.emoji)).await?;
        Ok(json!({"status": "ok", "action": reply.get("action"), "message_id": a.message_id, "emoji": a.emoji,
            "reactions": reply.get("reactions")}))
    }

    pub fn status(&self) -> Value {
        let (state, detail) = match self.link.state() {
            super::link::State::Ready(c) => return self.connected_status(&c),
            super::link::State::Connecting(why) => ("connecting", why),
            super::link::State::Refused => ("refused", "the hub refused the token".to_string()),
        };
        json!({"state": state, "detail": detail, "agent": self.agent, "hub": crate::config::redact_token(&self.config.hub_url()), "channels": self.channels_joined})
    }

    fn connected_status(&self, c: &OrochiClient) -> Value {
        let s = c.status();
        json!({"state": s.state, "agent": self.agent, "hub": crate::config::redact_token(&self.config.hub_url()), "connected_since": s.connected_since,
            "uptime_secs": s.uptime_secs, "reconnects": s.reconnects, "last_pong_age_ms": s.last_pong_age_ms,
            "channels": self.channels_joined})
    }

    pub async fn health(&self, a: HealthArgs) -> ToolResult<Value> {
        let state = serde_json::to_value(a.state).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        let reply = timed(self.live()?.record_health(a.agent.as_deref(), &state, &optional(&a.reason))).await?;
        Ok(json!({"status": "recorded", "agent": reply.get("agent"), "state": state, "ts": reply.get("ts")}))
    }

    pub async fn task(&self, a: TaskArgs) -> ToolResult<Value> {
        if a.task.chars().count() > crate::protocol::limits::MAX_TASK_CHARS {
            return Err(ToolError::invalid(format!("the task is {} characters", a.task.chars().count()), "keep it to 200 characters"));
        }
        timed(self.live()?.set_task(&a.task)).await?;
        Ok(json!({"status": "ok", "task": a.task}))
    }

    pub async fn subagents(&self, a: SubagentsArgs) -> ToolResult<Value> {
        let list: Vec<Value> = a.subagents.iter().map(|s| json!({"name": s.name, "task": optional(&s.task), "status": optional(&s.status)})).collect();
        let count = timed(self.live()?.set_subagents(list)).await?;
        Ok(json!({"status": "ok", "subagent_count": count}))
    }

    pub async fn download_media(&self, a: DownloadArgs) -> ToolResult<Value> {
        super::media::download(&self.dirs, &self.rest, &a.url, a.output_path.as_deref(), self.config.media_max_size).await
    }

    pub async fn upload_media(&self, a: UploadArgs) -> ToolResult<Value> {
        let channel = match &a.channel {
            Some(c) => Some(self.known(c).await?),
            None => None,
        };
        let mut record = super::media::upload(&self.dirs, &self.rest, &a.file_path, self.config.media_max_size).await?;
        let url = record["url"].as_str().unwrap_or_default().to_string();
        if let Some(channel) = channel {
            let text = a.message.filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| format!("Shared file: {}", record["filename"].as_str().unwrap_or("file")));
            self.check_text(&text)?;
            let meta = Map::from_iter([("attachments".to_string(), json!([record.clone()]))]);
            record["posted"] = self.post(&channel, &text, meta).await?;
        }
        record["status"] = "uploaded".into();
        record["absolute_url"] = self.rest.absolute(&url).into();
        Ok(record)
    }
}

// The dispatch by tool name; the catalog and argument types are in tools.rs.
fn parse<T: DeserializeOwned>(args: JsonObject) -> ToolResult<T> {
    serde_json::from_value(Value::Object(args))
        .map_err(|e| ToolError::invalid(format!("bad arguments: {e}"), "tools/list shows each tool's input schema"))
}

impl Inner {
    pub async fn call(&self, name: &str, args: JsonObject) -> ToolResult<Value> {
        match name {
            "orochi_send" => self.orochi_send(parse(args)?).await,
            "orochi_who" => self.orochi_who().await,
            "orochi_history" => self.history(parse(args)?, 50, false).await,
            "orochi_channels" => self.orochi_channels().await,
            "reply" => self.reply(parse(args)?).await,
            "history" => self.history(parse(args)?, 10, true).await,
            "react" => self.react(parse(args)?).await,
            "status" => Ok(self.status()),
            "health" => self.health(parse(args)?).await,
            "context" => {
                let a: ContextArgs = parse(args)?;
                super::context::read(&self.config.multiplexer, a.target.as_deref(), &self.agent).await
            }
            "task" => self.task(parse(args)?).await,
            "subagents" => self.subagents(parse(args)?).await,
            "download_media" => self.download_media(parse(args)?).await,
            "upload_media" => self.upload_media(parse(args)?).await,
            _ => Err(ToolError::new(Code::NotFound, format!("no tool named {name:?}"), "tools/list shows the tools")),
        }
    }
}
