//! Agent names: what a name may look like, which are reserved, and which workspace holds each.
//! A name belongs to the workspace whose token first registers or sends with it, connected or
//! not; every other workspace is refused it (`NAME_TAKEN`) on every way in. Claims ignore ASCII
//! case, so `Head-MBA` cannot pose as another workspace's `head-mba`. Claims live in the
//! `name_claims` table and in memory, so the message path checks a name without the database.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};

pub use crate::hub::store::NameClaim as Claim;
use crate::hub::store::peers::PeerNote;
use crate::hub::store::{ClaimOutcome, Store, StoreError};
use crate::protocol::{ErrorCode, FrameError, SERVER_SENDER};

/// Longest name, in characters.
const MAX_CHARS: usize = 128;
/// Names nobody may use: the hub's own sender, the reference's placeholder for a missing
/// sender, and the mention that would address everyone.
const RESERVED: &[&str] = &[SERVER_SENDER, "unknown", "all"];
/// Held by the admin workspace (`""`) for good: the dashboard's and REST's default sender.
const ADMIN_NAMES: &[&str] = &["user"];

fn among(list: &[&str], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Whether the name always belongs to the admin (and so cannot be released).
pub fn is_admin_name(name: &str) -> bool {
    among(ADMIN_NAMES, name)
}

/// The claim key: the name in lower case (allocating only when it has capitals).
fn key(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(name.to_ascii_lowercase()) } else { Cow::Borrowed(name) }
}

#[derive(Debug, thiserror::Error)]
pub enum NameError {
    #[error("invalid agent name {0:?}: 1-128 of A-Z a-z 0-9 _ -, starting with a letter or digit")]
    Malformed(String),
    #[error("{0:?} is reserved")]
    Reserved(String),
    #[error("the name {0:?} belongs to another workspace")]
    Taken(String),
    #[error("this workspace already holds {0} names (SCITEX_OROCHI_NAMES_PER_WORKSPACE)")]
    Full(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<NameError> for FrameError {
    fn from(e: NameError) -> Self {
        let code = match e {
            NameError::Malformed(_) | NameError::Reserved(_) => ErrorCode::InvalidName,
            NameError::Taken(_) | NameError::Full(_) => ErrorCode::NameTaken,
            NameError::Store(_) => ErrorCode::StoreUnavailable,
        };
        FrameError::new(code, e.to_string())
    }
}

/// `[A-Za-z0-9][A-Za-z0-9_-]{0,127}`: mentionable as `@name`, no look-alikes, nothing invisible.
fn well_formed(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_CHARS
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// A name anyone may use somewhere: well formed and not reserved.
pub fn check(name: &str) -> Result<(), NameError> {
    if !well_formed(name) {
        return Err(NameError::Malformed(name.chars().take(MAX_CHARS + 1).collect()));
    }
    if among(RESERVED, name) {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

#[derive(Default)]
struct Held {
    /// claim key (see [`key`]) → workspace id
    owner: HashMap<String, String>,
    /// workspace id → names held
    count: HashMap<String, u64>,
    /// Moves with every change, so a reload can tell a change made while it read.
    generation: u64,
}

impl Held {
    fn insert(&mut self, name: &str, workspace: String) {
        self.generation += 1;
        *self.count.entry(workspace.clone()).or_default() += 1;
        if let Some(old) = self.owner.insert(key(name).into_owned(), workspace) {
            self.forget_one(&old);
        }
    }

    fn remove(&mut self, name: &str) {
        self.generation += 1;
        if let Some(ws) = self.owner.remove(key(name).as_ref()) {
            self.forget_one(&ws);
        }
    }

    fn forget_one(&mut self, workspace: &str) {
        if let Some(n) = self.count.get_mut(workspace) {
            *n -= 1;
            if *n == 0 {
                self.count.remove(workspace);
            }
        }
    }
}

/// The claims, cached; changed only on the store's writer thread, so the cache follows the
/// table's order of changes.
pub struct Names {
    store: Store,
    held: Arc<RwLock<Held>>,
    per_workspace: u64,
    /// New claims, written in batches by [`write_claims`].
    pending: mpsc::Sender<Pending>,
    /// One reload at a time, so an older read never replaces a newer one...
    reloading: tokio::sync::Mutex<()>,
    /// ...and reloads asked while one ran become one.
    reload_wanted: AtomicBool,
}

/// A claim waiting for the database.
struct Pending {
    name: String,
    workspace: String,
    reply: oneshot::Sender<Result<ClaimOutcome, StoreError>>,
}

/// Most claims written in one transaction.
const BATCH: usize = 1024;

impl Names {
    pub async fn load(store: Store, per_workspace: u64) -> Result<Names, StoreError> {
        let held = Arc::new(RwLock::new(read_claims(&store).await?));
        let (pending, queue) = mpsc::channel(BATCH);
        tokio::spawn(write_claims(store.clone(), held.clone(), per_workspace, queue));
        Ok(Names { store, held, per_workspace, pending, reloading: Default::default(), reload_wanted: AtomicBool::new(false) })
    }

    /// Reads the claims again: another hub on the database changed them.
    pub async fn reload(&self) {
        self.reload_wanted.store(true, Ordering::Release);
        let _one = self.reloading.lock().await;
        if !self.reload_wanted.swap(false, Ordering::AcqRel) {
            return;
        }
        loop {
            let before = self.held.read().expect("names lock").generation;
            let mut fresh = match read_claims(&self.store).await {
                Ok(fresh) => fresh,
                Err(e) => return tracing::warn!(error = %e, "cannot read the name claims another hub changed"),
            };
            let mut held = self.held.write().expect("names lock");
            // A claim or release made here while reading may be missing from the read.
            if held.generation == before {
                fresh.generation = before + 1;
                *held = fresh;
                return;
            }
        }
    }

    /// The workspace holding `name`, if any.
    pub fn holder(&self, name: &str) -> Option<String> {
        if is_admin_name(name) {
            return Some(String::new());
        }
        self.held.read().expect("names lock").owner.get(key(name).as_ref()).cloned()
    }

    /// Whether `workspace` holds `name`; `None` when nobody does. No allocation for a lower-case
    /// name: this runs for every message.
    fn held_by(&self, name: &str, workspace: &str) -> Option<bool> {
        if is_admin_name(name) {
            return Some(workspace.is_empty());
        }
        self.held.read().expect("names lock").owner.get(key(name).as_ref()).map(|h| h == workspace)
    }

    /// Lets `workspace` use `name`: a valid name it holds, or a free one, which it then holds.
    /// Every way a sender enters the hub calls this; a held name costs one map lookup, a new
    /// one a share of a batched commit.
    pub async fn claim(&self, workspace: &str, name: &str) -> Result<(), NameError> {
        check(name)?;
        match self.held_by(name, workspace) {
            Some(true) => return Ok(()),
            Some(false) => return Err(NameError::Taken(name.to_string())),
            None => {}
        }
        let (reply, answer) = oneshot::channel();
        let job = Pending { name: name.to_string(), workspace: workspace.to_string(), reply };
        self.pending.send(job).await.map_err(|_| StoreError::Closed)?;
        match answer.await.map_err(|_| StoreError::Closed)?? {
            ClaimOutcome::Holder(h) if h == workspace => Ok(()),
            ClaimOutcome::Holder(_) => Err(NameError::Taken(name.to_string())),
            ClaimOutcome::Full => Err(NameError::Full(self.per_workspace)),
        }
    }

    /// Refuses `name` if another workspace holds it; does not claim it (for names a frame is
    /// about rather than speaks as, such as a health report's subject).
    pub fn check_for(&self, workspace: &str, name: &str) -> Result<(), NameError> {
        check(name)?;
        match self.held_by(name, workspace) {
            Some(false) => Err(NameError::Taken(name.to_string())),
            _ => Ok(()),
        }
    }

    /// Frees a claimed name; false if nobody held it. The admin names cannot be released.
    pub async fn release(&self, name: &str) -> Result<bool, StoreError> {
        let gone = self.store.release_name(name.to_string()).await?;
        self.held.write().expect("names lock").remove(name);
        tell_changed(&self.store).await;
        Ok(gone)
    }

    /// Frees every name of a deleted workspace.
    pub async fn release_workspace(&self, workspace: &str) -> Result<(), StoreError> {
        let names = self.store.release_workspace_names(workspace.to_string()).await?;
        {
            let mut held = self.held.write().expect("names lock");
            for n in &names {
                held.remove(n);
            }
        }
        tell_changed(&self.store).await;
        Ok(())
    }

    /// Claims, by name; only `workspace`'s when given.
    pub async fn list(&self, workspace: Option<&str>) -> Result<Vec<Claim>, StoreError> {
        self.store.name_claims(workspace.map(String::from)).await
    }
}

async fn read_claims(store: &Store) -> Result<Held, StoreError> {
    let mut held = Held::default();
    for claim in store.name_claims(None).await? {
        held.insert(&claim.name, claim.workspace_id);
    }
    Ok(held)
}

/// Tells the other hubs on the database that claims changed.
async fn tell_changed(store: &Store) {
    if let Err(e) = store.tell_peers(PeerNote::NamesChanged).await {
        tracing::warn!(error = %e, "cannot tell the other hubs that name claims changed");
    }
}

/// Writes new claims as they come, whatever arrived together in one transaction: a first
/// register costs a share of one commit instead of a commit of its own (500 fresh names at once
/// took 1.2 s with a commit each, DB_SYNC=full).
async fn write_claims(store: Store, held: Arc<RwLock<Held>>, limit: u64, mut queue: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let jobs: Vec<(String, String)> = batch.iter().map(|p| (p.name.clone(), p.workspace.clone())).collect();
        let outcomes = store.record_name_claims(jobs.clone(), limit).await;
        if let Ok(outcomes) = &outcomes {
            let mut h = held.write().expect("names lock");
            for ((name, _), outcome) in jobs.iter().zip(outcomes) {
                if let ClaimOutcome::Holder(ws) = outcome {
                    h.insert(name, ws.clone());
                }
            }
        }
        for (i, p) in batch.drain(..).enumerate() {
            let _ = p.reply.send(outcomes.as_ref().map(|o| o[i].clone()).map_err(Clone::clone));
        }
        if outcomes.is_ok() {
            tell_changed(&store).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for ok in ["a", "head-mba", "agent_7", "A1", &"x".repeat(128)] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "adm\u{200b}in", "аdmin", "a.b", "a@b", "#ch", &"x".repeat(129), "ａ"] {
            assert!(matches!(check(bad), Err(NameError::Malformed(_))), "{bad:?}");
        }
        for r in ["orochi-server", "unknown", "all", "ALL", "Orochi-Server"] {
            assert!(matches!(check(r), Err(NameError::Reserved(_))), "{r}");
        }
        let e: FrameError = NameError::Taken("x".into()).into();
        assert_eq!(e.code, ErrorCode::NameTaken);
    }

    #[test]
    fn counts_follow_claims() {
        let mut h = Held::default();
        h.insert("a", "w".into());
        h.insert("b", "w".into());
        h.insert("A", "v".into());
        assert_eq!((h.count.get("w"), h.count.get("v")), (Some(&1), Some(&1)));
        h.remove("a");
        h.remove("B");
        assert!(h.count.is_empty());
    }
}
