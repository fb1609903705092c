//! The tool catalog: argument types (their JSON schemas are what `tools/list` shows) and the
//! descriptions. The dispatch (handlers.rs) parses arguments itself rather than through rmcp,
//! so that a missing field or a wrong type comes back as an `invalid_input` tool error the model
//! can read, not as an opaque JSON-RPC error.

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::Tool;
use rmcp::schemars::{self, JsonSchema};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Deserialize, JsonSchema)]
pub struct SendArgs {
    /// Channel, e.g. "#general" ('#' is added when missing).
    pub channel: String,
    /// Message text; @name mentions reach that agent.
    #[serde(alias = "text")]
    pub message: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct HistoryArgs {
    /// Channel (default "#general").
    pub channel: Option<String>,
    /// How many messages, 1-1000 (default 50 for orochi_history, 10 for history).
    pub limit: Option<i64>,
    /// Only messages at or after this ISO timestamp, e.g. "2026-04-22T12:00:00".
    pub since: Option<String>,
    /// Only messages from this sender.
    #[serde(alias = "user")]
    pub sender: Option<String>,
    /// Only messages whose text contains this (case-insensitive).
    pub contains: Option<String>,
    /// msg_id of a thread's first message: only it and the replies under it (metadata.reply_to).
    pub thread: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ReplyArgs {
    /// Channel to answer in: the chat_id of the message you answer.
    #[serde(alias = "chat_id")]
    pub channel: String,
    /// The answer.
    pub text: String,
    /// msg_id of the message this answers.
    pub reply_to: Option<String>,
    /// Local files to attach (at most 10), inside the allowed folders.
    pub files: Option<Vec<String>>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ReactArgs {
    /// msg_id of the message.
    pub message_id: String,
    /// One emoji, e.g. "👀" (seen), "✅" (done), "👍".
    pub emoji: String,
}

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Idle,
    Stale,
    StuckPrompt,
    Dead,
    Ghost,
    Remediating,
}

#[derive(Deserialize, JsonSchema)]
pub struct HealthArgs {
    /// Agent the record is about (default: this agent).
    pub agent: Option<String>,
    pub state: HealthState,
    /// Why, in a sentence.
    pub reason: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct ContextArgs {
    /// tmux pane/session or screen session (default: the one this bridge runs in, else the agent name).
    pub target: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct TaskArgs {
    /// What you are working on, at most 200 characters ("" clears it).
    pub task: String,
}

#[derive(Deserialize, JsonSchema)]
pub struct SubagentArg {
    pub name: String,
    pub task: Option<String>,
    pub status: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct SubagentsArgs {
    /// The complete current list (replaces the previous one; [] clears it).
    pub subagents: Vec<SubagentArg>,
}

#[derive(Deserialize, JsonSchema)]
pub struct DownloadArgs {
    /// A hub media URL (absolute, or a /media/... path) from a message's attachments.
    pub url: String,
    /// File name or relative path inside the download folder (default: the URL's name).
    pub output_path: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
pub struct UploadArgs {
    /// Local file inside the allowed folders.
    pub file_path: String,
    /// Also post it to this channel (optional).
    pub channel: Option<String>,
    /// Text of that post (default "Shared file: NAME").
    pub message: Option<String>,
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: &'static str) -> Tool {
    Tool::new(name, description, schema_for_type::<T>())
}

/// Every tool, in the order `tools/list` shows them.
pub fn catalog() -> Vec<Tool> {
    vec![
        tool::<SendArgs>("orochi_send", "Send a message to a hub channel. Returns {status, channel, id, seq}."),
        tool::<NoArgs>("orochi_who", "List the agents online in the hub with machine, role, task, channels and health."),
        tool::<HistoryArgs>("orochi_history", "Read a channel's stored messages, oldest first, with optional since/sender/contains filters, or one thread (thread: its first msg_id; default limit 50)."),
        tool::<NoArgs>("orochi_channels", "List the hub's channels and the ones this agent is subscribed to."),
        tool::<ReplyArgs>("reply", "Answer in a channel (use the chat_id of the message you answer), optionally as a reply to a msg_id and with local files attached. Use only for real content; prefer react for acknowledgements."),
        tool::<HistoryArgs>("history", "Recent messages of a channel from the hub, oldest first, with msg_id, attachments and reactions (default limit 10)."),
        tool::<ReactArgs>("react", "Toggle an emoji reaction on a message (reacting twice removes it). 👀 seen, ✅ done, 👍 agree, 🔄 working, ❓ unclear, ❌ failed."),
        tool::<NoArgs>("status", "The bridge's connection: state, agent, hub, uptime, reconnects, last pong age."),
        tool::<HealthArgs>("health", "Record a health state for an agent (default yourself): healthy, idle, stale, stuck_prompt, dead, ghost or remediating, with a reason."),
        tool::<ContextArgs>("context", "Read this agent's terminal (tmux or screen) and report the context-window percentage from Claude Code's status line."),
        tool::<TaskArgs>("task", "Set your current task (at most 200 characters), shown to everyone in the agent list."),
        tool::<SubagentsArgs>("subagents", "Replace your list of running subagents [{name, task, status}] shown in the agent list."),
        tool::<DownloadArgs>("download_media", "Download a hub attachment URL into the download folder; returns the local path."),
        tool::<UploadArgs>("upload_media", "Upload a local file to the hub (optionally posting it to a channel); returns its URL."),
    ]
}
