//! How a history read is asked for: one parser for the socket's `query` payload and REST's
//! `/api/history/{channel}` query string, so both take the same fields with the same limits.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::protocol::payload::{MAX_FIELD_CHARS, opt_int, str_max};
use crate::hub::store::{HistoryQuery, page_limit};
use crate::hub::state::auth::Principal;
use crate::protocol::limits::MAX_ID_CHARS;
use crate::protocol::{ErrorCode, FrameError};

/// Where the parameters come from; errors name the field as that caller wrote it.
pub enum Params<'a> {
    /// A frame's payload (`payload.limit`).
    Frame(&'a Map<String, Value>),
    /// A URL query string (`limit`).
    Query(&'a HashMap<String, String>),
}

impl Params<'_> {
    /// A non-empty string of at most `max` characters.
    fn text(&self, key: &str, max: usize) -> Result<Option<String>, FrameError> {
        let s = match self {
            Params::Frame(p) => str_max(p, key, max)?,
            Params::Query(q) => match q.get(key) {
                Some(s) if s.chars().count() > max => return Err(FrameError::too_large(key, s.chars().count(), max, "characters")),
                s => s.cloned(),
            },
        };
        Ok(s.filter(|s| !s.is_empty()))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, FrameError> {
        match self {
            Params::Frame(p) => opt_int(p, key),
            Params::Query(q) => q
                .get(key)
                .map(|v| v.trim().parse::<i64>().map_err(|_| FrameError::new(ErrorCode::InvalidFrame, format!("{key} must be an integer"))))
                .transpose(),
        }
    }
}

impl HistoryQuery {
    /// `limit` (default 50, at most a page), `after_seq`, `since`, `sender`, `contains` and
    /// `thread` (a message id) of one channel, read as `reader` may.
    pub fn from_params(reader: Principal, channel: String, p: Params<'_>) -> Result<HistoryQuery, FrameError> {
        Ok(HistoryQuery {
            reader,
            channel,
            limit: page_limit(p.int("limit")?.unwrap_or(50)),
            after_seq: p.int("after_seq")?.map(|s| s.max(0) as u64),
            since: p.text("since", MAX_FIELD_CHARS)?,
            sender: p.text("sender", MAX_FIELD_CHARS)?,
            contains: p.text("contains", MAX_FIELD_CHARS)?,
            thread: p.text("thread", MAX_ID_CHARS)?,
        })
    }
}
