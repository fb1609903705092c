//! Field limits and page sizes of the wire protocol: one constant each, read by the hub that
//! enforces them and by the client, bridge and CLI that must stay inside them.

/// Longest task an agent reports, in characters (the reference's limit).
pub const MAX_TASK_CHARS: usize = 200;

/// Longest id, in characters: a frame's `id` (acks, idempotency keys) and a message id a read,
/// reaction or thread names (the hub's own are 36).
pub const MAX_ID_CHARS: usize = 128;

/// Most messages one history read returns (`/api/history`, `/api/messages`, socket `query`).
pub const MAX_PAGE: i64 = 1000;
