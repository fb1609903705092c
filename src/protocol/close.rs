//! WebSocket close codes. 4000/4001 are the reference's, 1xxx the standard's; the rest are
//! ours. The hub closes with them and the client decides how soon to come back by them
//! (docs/protocol.md, reconnect schedule).

/// The hub is stopping, most often for a restart (SIGTERM at every deploy cut-over):
/// clients come back at once (docs/protocol.md, reconnect schedule).
pub const RESTART: u16 = 1012;
/// A WebSocket protocol violation (bad opcode, unmasked frame, bad control frame).
pub const PROTOCOL_ERROR: u16 = 1002;
/// A text frame that is not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A frame or message over the hard cap.
pub const TOO_BIG: u16 = 1009;
/// Over a connection cap: try again later.
pub const TRY_AGAIN_LATER: u16 = 1013;
pub const REPLACED: u16 = 4000;
pub const AUTH_FAILED: u16 = 4001;
pub const STALE: u16 = 4003;
pub const SLOW_CONSUMER: u16 = 4008;
pub const PING_TIMEOUT: u16 = 4009;
/// Nothing sent within the register timeout after connecting.
pub const SILENT: u16 = 4010;
