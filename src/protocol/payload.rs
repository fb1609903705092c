//! Reading payload fields: each reader accepts a missing or null field, refuses a wrong type
//! with an `INVALID_FRAME` error naming the field, and a field over its bound with
//! `FIELD_TOO_LARGE` naming it, so nothing guesses and nothing unbounded is kept. The typed
//! commands (`command`) and the REST bodies that share a frame's fields read through these.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::limits::{MAX_ID_CHARS, MAX_TASK_CHARS};
use super::{ErrorCode, FrameError};

/// Longest short text field (register, status, health and query fields), in characters.
pub const MAX_FIELD_CHARS: usize = 256;
/// Longest text accepted where the hub keeps a shorter prefix (`current_task`), in characters.
pub const MAX_LONG_FIELD_CHARS: usize = 4096;
/// Largest heartbeat resource value, serialized, in bytes.
pub const MAX_RESOURCE_BYTES: usize = 4096;

/// Checks that `key`, when present, has the JSON type `want` ("string", "object" or "array").
pub fn field_type<'a>(payload: &'a Map<String, Value>, key: &str, want: &str) -> Result<Option<&'a Value>, FrameError> {
    let v = match payload.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let ok = match want {
        "string" => v.is_string(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        _ => unreachable!("known kinds"),
    };
    if ok {
        Ok(Some(v))
    } else {
        Err(FrameError::new(
            ErrorCode::InvalidFrame,
            format!("payload.{key} must be a{} {want}", if want == "object" || want == "array" { "n" } else { "" }),
        ))
    }
}

pub fn required_channel(p: &Map<String, Value>) -> Result<String, FrameError> {
    match opt_str(p, "channel")? {
        Some(c) if !c.is_empty() && !c.chars().any(char::is_control) => Ok(c),
        _ => Err(FrameError::new(ErrorCode::InvalidFrame, "payload.channel must be a non-empty string without control characters")),
    }
}

/// `payload.key` as a string of at most [`MAX_FIELD_CHARS`].
pub fn opt_str(p: &Map<String, Value>, key: &str) -> Result<Option<String>, FrameError> {
    str_max(p, key, MAX_FIELD_CHARS)
}

/// `payload.key` as a string of at most `max` characters.
pub fn str_max(p: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, FrameError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.chars().count() {
            n if n > max => Err(FrameError::too_large(&format!("payload.{key}"), n, max, "characters")),
            _ => Ok(Some(s.clone())),
        },
        Some(_) => Err(FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must be a string"))),
    }
}

/// `payload.current_task` of register, heartbeat and status_update: up to
/// [`MAX_LONG_FIELD_CHARS`] accepted, the first `MAX_TASK_CHARS` kept, as the reference.
pub fn current_task(p: &Map<String, Value>) -> Result<Option<String>, FrameError> {
    Ok(str_max(p, "current_task", MAX_LONG_FIELD_CHARS)?.map(|t| truncate(&t, MAX_TASK_CHARS)))
}

/// Refuses `payload.key` when its JSON text is longer than `max` bytes.
pub fn json_max(p: &Map<String, Value>, key: &str, max: usize) -> Result<(), FrameError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match serde_json::to_string(v).map_or(usize::MAX, |s| s.len()) {
            n if n > max => Err(FrameError::too_large(&format!("payload.{key}"), n, max, "bytes")),
            _ => Ok(()),
        },
    }
}

pub fn opt_int(p: &Map<String, Value>, key: &str) -> Result<Option<i64>, FrameError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must be an integer"))),
    }
}

/// A list of at most `max_items` channel names.
pub fn string_list(p: &Map<String, Value>, key: &str, max_items: usize) -> Result<Vec<String>, FrameError> {
    let bad = || FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must be a list of channel names"));
    match p.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() > max_items => {
            Err(FrameError::too_large(&format!("payload.{key}"), items.len(), max_items, "items"))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() && s.chars().count() <= MAX_FIELD_CHARS => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// An object of channel name to `seq` (an integer from 0), at most `max_items` entries.
pub fn positions(p: &Map<String, Value>, key: &str, max_items: usize) -> Result<Vec<(String, u64)>, FrameError> {
    let bad = || FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must map channel names to seq numbers (integers from 0)"));
    match p.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) if m.len() > max_items => Err(FrameError::too_large(&format!("payload.{key}"), m.len(), max_items, "items")),
        Some(Value::Object(m)) => m.iter().map(|(c, v)| v.as_u64().map(|seq| (c.clone(), seq)).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// Python's `int()` coercion of numbers and numeric strings.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

pub fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn invalid(detail: impl Into<String>) -> FrameError {
    FrameError::new(ErrorCode::InvalidFrame, detail)
}

/// `payload.message_id` as a string; integers are accepted too (the reference's ids were numbers).
pub fn message_id(p: &Map<String, Value>) -> Result<String, FrameError> {
    match p.get("message_id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_CHARS => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.to_string()),
        _ => Err(invalid("payload.message_id must be a message id (non-empty string, at most 128 bytes)")),
    }
}

/// `payload.emoji`: 1-16 characters (sequences with joiners are several), no spaces or controls.
pub fn emoji(p: &Map<String, Value>) -> Result<String, FrameError> {
    match p.get("emoji") {
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= 16 && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(s.clone())
        }
        _ => Err(invalid("payload.emoji must be one emoji (1-16 characters, no spaces)")),
    }
}

/// Most subagents one agent lists.
pub const MAX_SUBAGENTS: usize = 64;

/// One entry of `payload.subagents` (register, `subagents_update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subagent {
    pub name: String,
    pub task: String,
    pub status: String,
}

fn short(v: Option<&Value>, key: &str, max: usize) -> Result<String, FrameError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => Ok(s.clone()),
        _ => Err(invalid(format!("{key} must be a string of at most {max} printable characters"))),
    }
}

/// `payload.subagents`: `None` when absent, else the full list `[{name, task?, status?}]`.
pub fn subagents(p: &Map<String, Value>) -> Result<Option<Vec<Subagent>>, FrameError> {
    let items = match p.get("subagents") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) if items.len() <= MAX_SUBAGENTS => items,
        Some(_) => return Err(invalid(format!("payload.subagents must be a list of at most {MAX_SUBAGENTS} objects"))),
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(o) = item else { return Err(invalid("each subagent must be an object {name, task, status}")) };
            let name = short(o.get("name"), "subagent name", 128)?;
            if name.is_empty() {
                return Err(invalid("each subagent needs a non-empty name"));
            }
            let task = short(o.get("task"), "subagent task", MAX_TASK_CHARS)?;
            Ok(Subagent { name, task, status: short(o.get("status"), "subagent status", 32)? })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::protocol::arbitrary;

    /// A reader's answer: a value, or an error a client can be told about.
    fn answered<T>(r: Result<T, FrameError>) -> Result<Option<T>, TestCaseError> {
        match r {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                prop_assert!(!e.detail.is_empty() && e.detail.len() < 1024, "{}", e.detail);
                Ok(None)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every reader answers every payload without panicking, and what it accepts is bounded.
        #[test]
        fn every_reader_answers_every_payload(p in arbitrary::payload(), key in prop::sample::select(arbitrary::KEYS)) {
            for want in ["string", "object", "array"] {
                answered(field_type(&p, key, want))?;
            }
            if let Some(Some(s)) = answered(opt_str(&p, key))? {
                prop_assert!(s.chars().count() <= MAX_FIELD_CHARS);
            }
            answered(str_max(&p, key, 3))?;
            answered(json_max(&p, key, 64))?;
            answered(opt_int(&p, key))?;
            if let Some(list) = answered(string_list(&p, key, 4))? {
                prop_assert!(list.len() <= 4 && list.iter().all(|c| c.chars().count() <= MAX_FIELD_CHARS));
            }
            if let Some(c) = answered(required_channel(&p))? {
                prop_assert!(!c.is_empty() && c.chars().count() <= MAX_FIELD_CHARS);
            }
            if let Some(v) = p.get(key) {
                let _ = as_int(v);
                if let Some(s) = v.as_str() {
                    prop_assert!(truncate(s, 200).chars().count() <= 200);
                }
            }
            answered(subagents(&p))?;
            answered(message_id(&p))?;
            answered(emoji(&p))?;
        }
    }
}
