//! Same-machine eviction's index (see `Registry`): one machine's agents oldest first.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// One machine's agents by the `seen` they had when indexed. `seen` moves on every frame
/// without touching the index; a scan re-indexes an entry that turns out fresher, so each
/// agent costs at most one re-index per stale period.
#[derive(Default)]
pub(super) struct MachineIndex {
    pub(super) by_seen: BTreeSet<(Instant, String)>,
    pub(super) indexed: HashMap<String, Instant>,
}

impl MachineIndex {
    pub(super) fn insert(&mut self, name: &str, seen: Instant) {
        if let Some(old) = self.indexed.insert(name.to_string(), seen) {
            self.by_seen.remove(&(old, name.to_string()));
        }
        self.by_seen.insert((seen, name.to_string()));
    }

    pub(super) fn remove(&mut self, name: &str) {
        if let Some(old) = self.indexed.remove(name) {
            self.by_seen.remove(&(old, name.to_string()));
        }
    }
}
