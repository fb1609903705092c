use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::now_ts;

/// `sender` of every frame the hub writes itself.
pub const SERVER_SENDER: &str = "orochi-server";

/// The envelope `{type, sender, payload, id, ts}`, in the reference's key order, plus the
/// per-channel `seq` on stored messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Frame {
    #[serde(rename = "type")]
    pub kind: String,
    pub sender: String,
    pub payload: Map<String, Value>,
    pub id: String,
    pub ts: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Codes carried by `error` frames. The first three are the reference's; the rest name the
/// checks the reference lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    AuthFailed,
    ParseError,
    UnknownType,
    InvalidFrame,
    FrameTooLarge,
    ContentTooLarge,
    SenderMismatch,
    NotRegistered,
    InvalidName,
    StoreUnavailable,
    NotFound,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthFailed => "AUTH_FAILED",
            Self::ParseError => "PARSE_ERROR",
            Self::UnknownType => "UNKNOWN_TYPE",
            Self::InvalidFrame => "INVALID_FRAME",
            Self::FrameTooLarge => "FRAME_TOO_LARGE",
            Self::ContentTooLarge => "CONTENT_TOO_LARGE",
            Self::SenderMismatch => "SENDER_MISMATCH",
            Self::NotRegistered => "NOT_REGISTERED",
            Self::InvalidName => "INVALID_NAME",
            Self::StoreUnavailable => "STORE_UNAVAILABLE",
            Self::NotFound => "NOT_FOUND",
        }
    }
}

/// Why an incoming frame was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{detail}")]
pub struct FrameError {
    pub code: ErrorCode,
    pub detail: String,
    /// The frame's `id`, when it had one.
    pub reference: Option<String>,
}

impl FrameError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into(), reference: None }
    }
}

impl Frame {
    /// A frame written by the hub, with a fresh id and timestamp.
    pub fn server(kind: &str, payload: Value) -> Self {
        Self::new(kind, SERVER_SENDER, payload)
    }

    pub fn new(kind: &str, sender: &str, payload: Value) -> Self {
        let payload = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Frame {
            kind: kind.to_string(),
            sender: sender.to_string(),
            payload,
            id: uuid::Uuid::new_v4().to_string(),
            ts: now_ts(),
            seq: None,
        }
    }

    /// `{status:"ok", ref}` (`ref`: the client's frame id), plus `seq` and the hub's `msg_id`
    /// for a stored message.
    pub fn ack(reference: &str, stored: Option<(u64, &str)>) -> Self {
        let mut payload = json!({"status": "ok", "ref": reference});
        if let Some((seq, msg_id)) = stored {
            payload["seq"] = seq.into();
            payload["msg_id"] = msg_id.into();
        }
        Self::server("ack", payload)
    }

    pub fn error(err: &FrameError) -> Self {
        let mut payload = json!({"code": err.code.as_str(), "detail": err.detail});
        if let Some(r) = &err.reference {
            payload["ref"] = r.clone().into();
        }
        Self::server("error", payload)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }

    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }

    /// `payload.content`, or the `payload.text` alias the TypeScript bridge sends.
    pub fn content(&self) -> &str {
        self.str_field("content").or_else(|| self.str_field("text")).unwrap_or("")
    }

    pub fn channel(&self) -> &str {
        self.str_field("channel").unwrap_or("")
    }
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, FrameError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(FrameError::new(
            ErrorCode::InvalidFrame,
            format!("field '{key}' must be a string, got {}", json_type(other)),
        )),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses one text frame into an envelope, filling `id`, `ts` and `sender` like the reference.
/// Every malformed shape becomes a [`FrameError`] instead of a dropped connection.
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::new(ErrorCode::ParseError, format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::new(
            ErrorCode::InvalidFrame,
            format!("a frame must be a JSON object, got {}", json_type(&value)),
        ));
    };
    let id = optional_string(&obj, "id")?;
    let with_ref = |mut e: FrameError| {
        e.reference = id.clone();
        e
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        None | Some(Value::Null) => return Err(with_ref(FrameError::new(ErrorCode::ParseError, "missing field 'type'"))),
        Some(other) => {
            return Err(with_ref(FrameError::new(
                ErrorCode::InvalidFrame,
                format!("field 'type' must be a non-empty string, got {}", json_type(other)),
            )));
        }
    };
    let sender = optional_string(&obj, "sender").map_err(with_ref)?;
    let ts = optional_string(&obj, "ts").map_err(with_ref)?;
    let payload = match obj.remove("payload") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(with_ref(FrameError::new(
                ErrorCode::InvalidFrame,
                format!("field 'payload' must be an object, got {}", json_type(&other)),
            )));
        }
    };
    Ok(Frame {
        kind,
        sender: sender.unwrap_or_else(|| "unknown".into()),
        payload,
        id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ts: ts.unwrap_or_else(now_ts),
        // Read for clients; the hub assigns its own and never trusts this one.
        seq: obj.get("seq").and_then(Value::as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_defaults_and_keeps_client_values() {
        let f = parse_frame(r##"{"type":"message","payload":{"channel":"#g","content":"hi"},"ts":"x"}"##).unwrap();
        assert_eq!(f.sender, "unknown");
        assert_eq!(f.ts, "x");
        assert_eq!(f.id.len(), 36);
        let out = f.to_json();
        assert!(out.starts_with(r##"{"type":"message","sender":"unknown","payload":{"channel":"#g","content":"hi"},"id":"##), "{out}");
    }

    #[test]
    fn malformed_shapes_are_errors() {
        let code = |s: &str| parse_frame(s).unwrap_err().code;
        assert_eq!(code("[1,2]"), ErrorCode::InvalidFrame);
        assert_eq!(code("42"), ErrorCode::InvalidFrame);
        assert_eq!(code("{nope"), ErrorCode::ParseError);
        assert_eq!(code(r##"{"payload":{}}"##), ErrorCode::ParseError);
        assert_eq!(code(r##"{"type":5}"##), ErrorCode::InvalidFrame);
        assert_eq!(code(r##"{"type":"message","payload":[1]}"##), ErrorCode::InvalidFrame);
        assert_eq!(code(r##"{"type":"message","sender":{}}"##), ErrorCode::InvalidFrame);
        let e = parse_frame(r##"{"type":"message","id":"abc","payload":"x"}"##).unwrap_err();
        assert_eq!(e.reference.as_deref(), Some("abc"));
        assert!(parse_frame(r##"{"type":"message","payload":null}"##).unwrap().payload.is_empty());
    }

    #[test]
    fn text_is_an_alias_of_content() {
        let f = parse_frame(r##"{"type":"message","payload":{"channel":"#g","text":"hey"}}"##).unwrap();
        assert_eq!(f.content(), "hey");
    }
}
