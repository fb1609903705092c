use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Kind, now_ts};

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
/// checks the reference lacked. One naming rule gives the wire string everywhere: serde,
/// [`ErrorCode::as_str`] and `FromStr` (`"NAME_TAKEN".parse()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumString, strum::IntoStaticStr)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
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
    NameTaken,
    StoreUnavailable,
    NotFound,
    RateLimited,
    FieldTooLarge,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
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

    /// `field` (as the client wrote it, e.g. `payload.role`) is longer than `limit`.
    pub fn too_large(field: &str, size: usize, limit: usize, unit: &str) -> Self {
        Self::new(ErrorCode::FieldTooLarge, format!("{field} is {size} {unit}; the limit is {limit}"))
    }
}

pub use super::limits::MAX_ID_CHARS;
/// Longest frame `type`, in characters (the longest known type is 16).
const MAX_TYPE_CHARS: usize = 64;
/// Longest envelope `sender`, in characters; names are checked further where they are used.
const MAX_SENDER_CHARS: usize = 256;

impl Frame {
    /// A frame written by the hub, with a fresh id and timestamp.
    pub fn server(kind: impl AsRef<str>, payload: Value) -> Self {
        Self::new(kind, SERVER_SENDER, payload)
    }

    /// `kind`: a [`Kind`], or a type string as a client wrote it.
    pub fn new(kind: impl AsRef<str>, sender: &str, payload: Value) -> Self {
        let payload = match payload {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Frame {
            kind: kind.as_ref().to_string(),
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
        Self::server(Kind::Ack, payload)
    }

    pub fn error(err: &FrameError) -> Self {
        let mut payload = json!({"code": err.code.as_str(), "detail": err.detail});
        if let Some(r) = &err.reference {
            payload["ref"] = r.clone().into();
        }
        Self::server(Kind::Error, payload)
    }

    /// Whether this frame's `type` is `kind`.
    pub fn is(&self, kind: Kind) -> bool {
        self.kind == kind.as_str()
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

/// An optional envelope string of at most `max` characters.
fn optional_string(obj: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, FrameError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.chars().count() {
            n if n > max => Err(FrameError::too_large(key, n, max, "characters")),
            _ => Ok(Some(s.clone())),
        },
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
/// Every malformed shape becomes a [`FrameError`] instead of a dropped connection. A `message`
/// must carry a payload object; other types may omit it (or send null) for an empty one.
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::new(ErrorCode::ParseError, format!("invalid JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::new(
            ErrorCode::InvalidFrame,
            format!("a frame must be a JSON object, got {}", json_type(&value)),
        ));
    };
    let id = optional_string(&obj, "id", MAX_ID_CHARS)?;
    let with_ref = |mut e: FrameError| {
        e.reference = id.clone();
        e
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) if t.chars().count() > MAX_TYPE_CHARS => {
            return Err(with_ref(FrameError::too_large("type", t.chars().count(), MAX_TYPE_CHARS, "characters")));
        }
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        None | Some(Value::Null) => return Err(with_ref(FrameError::new(ErrorCode::ParseError, "missing field 'type'"))),
        Some(other) => {
            return Err(with_ref(FrameError::new(
                ErrorCode::InvalidFrame,
                format!("field 'type' must be a non-empty string, got {}", json_type(other)),
            )));
        }
    };
    let sender = optional_string(&obj, "sender", MAX_SENDER_CHARS).map_err(with_ref)?;
    // Clients read the hub's `ts`; the hub stamps its own on everything it stores or forwards.
    let ts = optional_string(&obj, "ts", MAX_ID_CHARS).map_err(with_ref)?;
    let payload = match obj.remove("payload") {
        None | Some(Value::Null) if kind == Kind::Message.as_str() => {
            return Err(with_ref(FrameError::new(ErrorCode::InvalidFrame, "a message needs a payload object")));
        }
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
    fn error_codes_read_back_as_they_are_written() {
        for code in [ErrorCode::AuthFailed, ErrorCode::NameTaken, ErrorCode::FieldTooLarge] {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(ErrorCode::StoreUnavailable.as_str(), "STORE_UNAVAILABLE");
        assert!("name_taken".parse::<ErrorCode>().is_err());
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
        let e = parse_frame(r##"{"type":"message","id":"n","payload":null}"##).unwrap_err();
        assert_eq!((e.code, e.reference.as_deref()), (ErrorCode::InvalidFrame, Some("n")));
        assert!(parse_frame(r##"{"type":"heartbeat","payload":null}"##).unwrap().payload.is_empty());
        let long_id = format!(r##"{{"type":"presence","id":"{}"}}"##, "i".repeat(MAX_ID_CHARS + 1));
        let e = parse_frame(&long_id).unwrap_err();
        assert_eq!(e.code, ErrorCode::FieldTooLarge);
        assert!(e.detail.starts_with("id is 129 characters"), "{}", e.detail);
    }

    #[test]
    fn text_is_an_alias_of_content() {
        let f = parse_frame(r##"{"type":"message","payload":{"channel":"#g","text":"hey"}}"##).unwrap();
        assert_eq!(f.content(), "hey");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::arbitrary;

    /// Every input is answered: a frame, or an error the hub can send back as a frame.
    fn answered(text: &str) -> Result<(), TestCaseError> {
        match parse_frame(text) {
            Ok(f) => {
                prop_assert!(!f.kind.is_empty() && f.id.chars().count() <= MAX_ID_CHARS);
                // What the hub forwards parses again (floats may not round-trip exactly).
                let again = parse_frame(&f.to_json());
                prop_assert!(again.is_ok_and(|g| (g.kind, g.id, g.sender) == (f.kind, f.id, f.sender)));
            }
            Err(e) => {
                prop_assert!(!e.detail.is_empty());
                prop_assert!(e.detail.len() < 1024, "errors do not echo the input");
                prop_assert!(serde_json::from_str::<Value>(&Frame::error(&e).to_json()).is_ok());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_text_is_answered(text in any::<String>()) {
            answered(&text)?;
        }

        #[test]
        fn any_json_is_answered(v in arbitrary::json()) {
            answered(&v.to_string())?;
        }

        #[test]
        fn any_envelope_is_answered(v in arbitrary::frame()) {
            answered(&v.to_string())?;
        }
    }
}

