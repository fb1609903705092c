//! Which agents each hub process on a shared database holds (replicas), so every process lists
//! them all. A process writes its own agents behind its registry (the changes of about a second
//! in one statement) with a heartbeat of its own; the agents of a process whose heartbeat
//! stopped leave every listing, and the first live process to notice deletes them.

/// One agent as its process last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub name: String,
    pub workspace: String,
    /// The agent's registry entry as JSON (what `/api/agents` shows of it).
    pub info: String,
}

/// What one flush writes: agents added or changed, and names this process no longer holds.
#[derive(Debug, Default)]
pub struct PresenceChanges {
    pub rows: Vec<AgentRow>,
    pub gone: Vec<String>,
}

/// An agent of a process found dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The dead process.
    pub replica: String,
    pub name: String,
}
