//! What a client asks of the hub, typed: [`Command::from_frame`] reads a parsed [`Frame`]'s
//! `type` and payload once (as mini-redis turns a `Frame` into a `Command`), so a handler gets
//! checked fields instead of reading them by hand. Errors name the field as the client wrote
//! it. A message keeps its whole frame: every payload field the hub does not read (`metadata`
//! and its `reply_to`, a client's own keys) is forwarded and stored exactly as sent.

use serde_json::{Map, Value};

use super::payload::{
    MAX_RESOURCE_BYTES, Subagent, as_int, current_task, emoji, field_type, json_max, message_id, opt_str, positions,
    required_channel, str_max, string_list, subagents,
};
use super::limits::MAX_TASK_CHARS as MAX_TASK;
use super::{ErrorCode, Frame, FrameError, Kind};

/// The limits a payload is checked against that the hub's configuration sets.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `register`'s channel list (`SCITEX_OROCHI_MAX_CHANNELS_PER_AGENT`).
    pub max_channels: usize,
    /// A message's content, in bytes (`SCITEX_OROCHI_MAX_CONTENT_BYTES`).
    pub max_content_bytes: u64,
    /// A message's metadata and attachments, serialized, in bytes.
    pub max_metadata_bytes: usize,
}

/// One client frame, its payload checked.
#[derive(Debug)]
pub enum Command {
    Register(Register),
    Message(Post),
    /// The channel to join.
    Subscribe(String),
    /// The channel to leave.
    Unsubscribe(String),
    Query(Query),
    Presence,
    Heartbeat(Heartbeat),
    StatusUpdate(StatusUpdate),
    PermissionRequest(PermissionAsk),
    React { message_id: String, emoji: String },
    /// Read by the hub's `HealthUpdate::parse`, which REST shares: the agent defaults to the
    /// reporter's name, which only the socket knows.
    Health(Map<String, Value>),
    /// The task, at most `MAX_TASK_CHARS`.
    TaskUpdate(String),
    SubagentsUpdate(Vec<Subagent>),
    /// A type clients do not send (including the hub's own, such as `error`), as written.
    Unknown(String),
}

impl Command {
    /// Reads `frame` as the command its `type` names. The fields are checked in the order the
    /// hub always read them, so a frame with several faults is told about the same one.
    pub fn from_frame(frame: Frame, limits: &Limits) -> Result<Command, FrameError> {
        let Ok(kind) = frame.kind.parse::<Kind>() else { return Ok(Command::Unknown(frame.kind)) };
        let p = &frame.payload;
        Ok(match kind {
            Kind::Register => Command::Register(Register::read(p, limits.max_channels, frame.sender)?),
            Kind::Message => Command::Message(Post::from_frame(frame, limits)?),
            Kind::Subscribe => Command::Subscribe(required_channel(p)?),
            Kind::Unsubscribe => Command::Unsubscribe(required_channel(p)?),
            Kind::Query => {
                let channel = opt_str(p, "channel")?.filter(|c| !c.is_empty()).unwrap_or_else(|| "#general".into());
                Command::Query(Query { channel, params: frame.payload })
            }
            Kind::Presence => Command::Presence,
            Kind::Heartbeat => Command::Heartbeat(Heartbeat::read(p)?),
            Kind::StatusUpdate => Command::StatusUpdate(StatusUpdate::read(p)?),
            Kind::PermissionRequest => Command::PermissionRequest(PermissionAsk::read(p)?),
            Kind::React => Command::React { message_id: message_id(p)?, emoji: emoji(p)? },
            Kind::Health => Command::Health(frame.payload),
            Kind::TaskUpdate => {
                let task = str_max(p, "task", MAX_TASK)?.or(str_max(p, "current_task", MAX_TASK)?).unwrap_or_default();
                if task.chars().any(char::is_control) {
                    return Err(invalid("payload.task must be printable characters"));
                }
                Command::TaskUpdate(task)
            }
            Kind::SubagentsUpdate => {
                Command::SubagentsUpdate(subagents(p)?.ok_or_else(|| invalid("payload.subagents is required (a list; [] clears it)"))?)
            }
            _ => Command::Unknown(frame.kind),
        })
    }
}


fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::InvalidFrame, detail)
}

/// `register`: who the agent is.
#[derive(Debug)]
pub struct Register {
    /// The frame's `sender`.
    pub name: String,
    pub channels: Vec<String>,
    pub current_task: String,
    pub machine: String,
    /// Given and not empty; the hub otherwise names it `name@machine`.
    pub agent_id: Option<String>,
    pub subagents: Option<Vec<Subagent>>,
    pub role: String,
    pub model: String,
    pub project: String,
    pub multiplexer: String,
    pub subagent_count: i64,
    /// `resume`: the last `seq` the client holds per channel, so the hub can say which
    /// channels it missed nothing of (see `hub::pipeline::heads`). Clients that never send it
    /// (the reference's) resume by `query` as before.
    pub resume: Vec<(String, u64)>,
}

impl Register {
    fn read(p: &Map<String, Value>, max_channels: usize, name: String) -> Result<Register, FrameError> {
        let text = |key: &str| opt_str(p, key).map(Option::unwrap_or_default);
        Ok(Register {
            name,
            channels: string_list(p, "channels", max_channels)?,
            current_task: current_task(p)?.unwrap_or_default(),
            machine: text("machine")?,
            agent_id: opt_str(p, "agent_id")?.filter(|s| !s.is_empty()),
            subagents: subagents(p)?,
            role: text("role")?,
            model: text("model")?,
            project: text("project")?,
            multiplexer: text("multiplexer")?,
            subagent_count: p.get("subagent_count").and_then(as_int).unwrap_or(0),
            resume: positions(p, "resume", max_channels)?,
        })
    }
}

/// A `message` checked against the limits, whoever sent it (agent socket, observer, REST):
/// a message that would not be stored is refused here, never acknowledged.
#[derive(Debug)]
pub struct Post {
    /// The frame as it is forwarded: the sender's payload, with `content` filled from the
    /// `text` alias and `metadata.attachments` from `attachments`, as the reference does.
    pub frame: Frame,
    pub channel: String,
    pub content: String,
    /// What the store keeps as the message's metadata.
    pub metadata: Map<String, Value>,
}

impl Post {
    pub fn from_frame(mut frame: Frame, limits: &Limits) -> Result<Post, FrameError> {
        let p = &frame.payload;
        field_type(p, "channel", "string")?;
        field_type(p, "content", "string")?;
        field_type(p, "text", "string")?;
        field_type(p, "metadata", "object")?;
        field_type(p, "attachments", "array")?;
        let channel = required_channel(p)?;
        json_max(p, "metadata", limits.max_metadata_bytes)?;
        json_max(p, "attachments", limits.max_metadata_bytes)?;
        let len = frame.content().len() as u64;
        if len > limits.max_content_bytes {
            return Err(FrameError::new(
                ErrorCode::ContentTooLarge,
                format!("content is {len} bytes; the limit is {} (SCITEX_OROCHI_MAX_CONTENT_BYTES)", limits.max_content_bytes),
            ));
        }
        let mut metadata = match frame.payload.get("metadata") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if let Some(Value::Array(att)) = frame.payload.get("attachments")
            && !att.is_empty()
        {
            metadata.insert("attachments".into(), Value::Array(att.clone()));
            // Forwarded frames carry it too, as the reference does.
            frame.payload.insert("metadata".into(), Value::Object(metadata.clone()));
        }
        let content = frame.content().to_string();
        // `text` is an alias (the TypeScript bridge sends it): recipients read `content`.
        if !matches!(frame.payload.get("content"), Some(Value::String(_))) {
            frame.payload.insert("content".into(), Value::String(content.clone()));
        }
        Ok(Post { frame, channel, content, metadata })
    }
}

/// `query`: a channel's history. The other fields (`limit`, `after_seq`, ...) are read by the
/// hub's `HistoryQuery::from_params`, the one parser REST's history reads share.
#[derive(Debug)]
pub struct Query {
    /// `#general` when not given.
    pub channel: String,
    pub params: Map<String, Value>,
}

/// The heartbeat keys the hub keeps (reference §5.2); others are dropped.
pub const RESOURCE_KEYS: &[&str] = &[
    "cpu_count", "cpu_model", "load_avg_1m", "load_avg_5m", "load_avg_15m", "mem_free_mb", "mem_total_mb",
    "mem_used_percent", "disk_used_percent", "resource_source", "cluster_nodes", "cluster_cpus_allocated",
    "cluster_cpus_total", "cluster_mem_free_mb", "cluster_mem_total_mb", "cluster_gpus_total",
    "cluster_gpus_allocated", "slurm_total_jobs", "slurm_running", "slurm_pending",
];

/// `heartbeat`: liveness, and optionally the machine's figures and the current task.
#[derive(Debug)]
pub struct Heartbeat {
    pub current_task: Option<String>,
    /// The `RESOURCE_KEYS` present, each at most `MAX_RESOURCE_BYTES` serialized.
    pub resources: Map<String, Value>,
    pub subagent_count: Option<i64>,
}

impl Heartbeat {
    fn read(p: &Map<String, Value>) -> Result<Heartbeat, FrameError> {
        let current_task = current_task(p)?;
        let mut resources = Map::new();
        for (key, v) in p.iter().filter(|(k, _)| RESOURCE_KEYS.contains(&k.as_str())) {
            json_max(p, key, MAX_RESOURCE_BYTES)?;
            resources.insert(key.clone(), v.clone());
        }
        Ok(Heartbeat { current_task, resources, subagent_count: p.get("subagent_count").and_then(as_int) })
    }
}

/// `status_update`: the fields given change, the others stay.
#[derive(Debug, Default)]
pub struct StatusUpdate {
    pub status: Option<String>,
    pub machine: Option<String>,
    pub role: Option<String>,
    pub project: Option<String>,
    pub agent_id: Option<String>,
    pub current_task: Option<String>,
    pub subagent_count: Option<i64>,
}

impl StatusUpdate {
    fn read(p: &Map<String, Value>) -> Result<StatusUpdate, FrameError> {
        Ok(StatusUpdate {
            status: opt_str(p, "status")?,
            machine: opt_str(p, "machine")?,
            role: opt_str(p, "role")?,
            project: opt_str(p, "project")?,
            agent_id: opt_str(p, "agent_id")?,
            current_task: current_task(p)?,
            subagent_count: p.get("subagent_count").and_then(as_int),
        })
    }
}

/// Bounds of what a bridge may send (Claude Code cuts the preview to 200 characters).
const MAX_REQUEST_ID_CHARS: usize = 64;
const MAX_TOOL_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 2000;
const MAX_PREVIEW_CHARS: usize = 4000;

/// `permission_request`: a tool-permission prompt a bridge relays.
#[derive(Debug)]
pub struct PermissionAsk {
    /// The bridge's own id: letters, digits, `-` and `_`.
    pub request_id: String,
    pub tool_name: String,
    pub description: String,
    pub input_preview: String,
}

impl PermissionAsk {
    fn read(p: &Map<String, Value>) -> Result<PermissionAsk, FrameError> {
        let request_id = Self::field(p, "request_id", MAX_REQUEST_ID_CHARS, true)?;
        if !request_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid("payload.request_id must be letters, digits, - or _"));
        }
        let tool_name = Self::field(p, "tool_name", MAX_TOOL_CHARS, true)?;
        if tool_name.chars().any(char::is_control) {
            return Err(invalid("payload.tool_name must be printable"));
        }
        let description = Self::field(p, "description", MAX_DESCRIPTION_CHARS, false)?;
        let input_preview = Self::field(p, "input_preview", MAX_PREVIEW_CHARS, false)?;
        Ok(PermissionAsk { request_id, tool_name, description, input_preview })
    }

    fn field(p: &Map<String, Value>, key: &str, max: usize, required: bool) -> Result<String, FrameError> {
        let v = match p.get(key) {
            None | Some(Value::Null) if !required => return Ok(String::new()),
            None | Some(Value::Null) => return Err(invalid(format!("permission_request needs payload.{key}"))),
            Some(Value::String(s)) => s,
            Some(_) => return Err(invalid(format!("payload.{key} must be a string"))),
        };
        let n = v.chars().count();
        if n > max {
            return Err(FrameError::too_large(&format!("payload.{key}"), n, max, "characters"));
        }
        if required && v.trim().is_empty() {
            return Err(invalid(format!("payload.{key} is empty")));
        }
        Ok(v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_frame;

    const LIMITS: Limits = Limits { max_channels: 4, max_content_bytes: 16, max_metadata_bytes: 64 };

    fn command(text: &str) -> Result<Command, FrameError> {
        Command::from_frame(parse_frame(text).unwrap(), &LIMITS)
    }

    #[test]
    fn a_message_keeps_what_it_does_not_read() {
        let Ok(Command::Message(post)) = command(r##"{"type":"message","payload":{"channel":"#g","text":"hi","metadata":{"reply_to":"m1"},"mine":1}}"##) else {
            panic!("a message")
        };
        assert_eq!((post.channel.as_str(), post.content.as_str()), ("#g", "hi"));
        assert_eq!(post.metadata["reply_to"], "m1");
        let forwarded = serde_json::to_string(&post.frame.payload).unwrap();
        assert_eq!(forwarded, r##"{"channel":"#g","text":"hi","metadata":{"reply_to":"m1"},"mine":1,"content":"hi"}"##);
    }

    #[test]
    fn faults_are_named_as_written() {
        let err = |text: &str| command(text).unwrap_err();
        let e = err(r##"{"type":"message","payload":{"channel":"#g","content":"seventeen bytes!!"}}"##);
        assert_eq!(e.code, ErrorCode::ContentTooLarge);
        let e = err(r##"{"type":"register","payload":{"channels":["#a","#b","#c","#d","#e"]}}"##);
        assert_eq!((e.code, e.detail.as_str()), (ErrorCode::FieldTooLarge, "payload.channels is 5 items; the limit is 4"));
        let e = err(r##"{"type":"subscribe","payload":{}}"##);
        assert_eq!(e.code, ErrorCode::InvalidFrame);
        let e = err(r##"{"type":"permission_request","payload":{"request_id":"a b","tool_name":"x"}}"##);
        assert_eq!(e.detail, "payload.request_id must be letters, digits, - or _");
    }

    #[test]
    fn types_clients_do_not_send_are_unknown() {
        assert!(matches!(command(r##"{"type":"error"}"##), Ok(Command::Unknown(k)) if k == "error"));
        assert!(matches!(command(r##"{"type":"nope"}"##), Ok(Command::Unknown(k)) if k == "nope"));
        assert!(matches!(command(r##"{"type":"query"}"##), Ok(Command::Query(q)) if q.channel == "#general"));
    }
}
