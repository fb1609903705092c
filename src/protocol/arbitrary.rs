//! Property-test generators: arbitrary JSON, and payloads whose keys are the ones the hub
//! reads, so generated inputs reach the readers instead of being ignored.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys some reader looks at, plus one nobody does.
pub const KEYS: &[&str] = &[
    "channel", "content", "text", "metadata", "attachments", "channels", "machine", "role", "model", "agent_id",
    "project", "multiplexer", "status", "current_task", "task", "subagent_count", "subagents", "limit", "since",
    "after_seq", "sender", "contains", "message_id", "emoji", "state", "reason", "source", "agent", "cpu_model",
    "mem_free_mb", "name", "unknown_key",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        "[#@a-z0-9 _-]{0,12}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        (0usize..600).prop_map(|n| Value::from("w".repeat(n))),
    ]
}

/// Any JSON value, a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::vec((any::<String>(), inner), 0..5).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A payload object over [`KEYS`] with arbitrary values.
pub fn payload() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((prop::sample::select(KEYS), json()), 0..8)
        .prop_map(|kv| kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A frame as a client could write it: a known or unknown type, or none; arbitrary envelope
/// fields; a payload that is usually an object.
pub fn frame() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        prop::sample::select(vec![
            "message", "register", "subscribe", "unsubscribe", "query", "presence", "heartbeat", "status_update",
            "react", "health", "task_update", "subagents_update", "error",
        ])
        .prop_map(Value::from),
        json(),
    ];
    let payload = prop_oneof![4 => payload().prop_map(Value::Object), 1 => json()];
    (prop::option::of(kind), prop::option::of(json()), prop::option::of(json()), prop::option::of(json()), payload).prop_map(
        |(kind, id, sender, ts, payload)| {
            let mut f = Map::new();
            for (k, v) in [("type", kind), ("id", id), ("sender", sender), ("ts", ts), ("payload", Some(payload))] {
                if let Some(v) = v {
                    f.insert(k.into(), v);
                }
            }
            Value::Object(f)
        },
    )
}
