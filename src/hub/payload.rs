//! Reading payload fields: each reader accepts a missing or null field and refuses a wrong
//! type with an `INVALID_FRAME` error naming the field, so handlers never guess.

use serde_json::{Map, Value};

use crate::protocol::{ErrorCode, FrameError};

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
        Some(c) if !c.is_empty() && c.chars().count() <= 256 && !c.chars().any(char::is_control) => Ok(c),
        _ => Err(FrameError::new(ErrorCode::InvalidFrame, "payload.channel must be a non-empty string (at most 256 characters)")),
    }
}

pub fn opt_str(p: &Map<String, Value>, key: &str) -> Result<Option<String>, FrameError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must be a string"))),
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

pub fn string_list(p: &Map<String, Value>, key: &str) -> Result<Vec<String>, FrameError> {
    let bad = || FrameError::new(ErrorCode::InvalidFrame, format!("payload.{key} must be a list of channel names"));
    match p.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() && s.chars().count() <= 256 => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect(),
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
