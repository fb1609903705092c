//! Frame types: every `type` the hub reads or writes, named once. A frame keeps its `type` as
//! the sender wrote it (an unknown one is answered, not dropped); [`Kind`] is how code names
//! and matches them.

/// A frame's `type` (`"status_update"` is `Kind::StatusUpdate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::AsRefStr, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Kind {
    // Sent by clients (and `message`, `presence`, `status_update` by the hub as well).
    Register,
    Message,
    Subscribe,
    Unsubscribe,
    Query,
    Presence,
    Heartbeat,
    StatusUpdate,
    PermissionRequest,
    React,
    Health,
    TaskUpdate,
    SubagentsUpdate,
    // Sent by the hub.
    Ack,
    Error,
    PresenceChange,
    HealthUpdate,
    ReactionUpdate,
    TodoUpdate,
    Inbox,
    PermissionUpdate,
    PermissionVerdict,
    PermissionExpired,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_as_they_are_written() {
        for kind in [Kind::Register, Kind::StatusUpdate, Kind::PermissionRequest, Kind::SubagentsUpdate, Kind::PresenceChange] {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert_eq!(Kind::StatusUpdate.as_str(), "status_update");
        assert!("StatusUpdate".parse::<Kind>().is_err());
    }
}
