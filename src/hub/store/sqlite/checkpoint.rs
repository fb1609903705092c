//! WAL checkpoints off the writer thread. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold, so one message in a thousand would wait for the copy into the
//! database file and its fsync. Here a thread with its own connection copies committed frames
//! shortly after the writer signals a commit; the writer's own automatic checkpoint stays only
//! as a bound on the WAL under sustained load, when this one never catches up.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// How long commits gather before one checkpoint copies them all.
const EVERY: Duration = Duration::from_millis(250);

/// WAL pages at which the writer checkpoints itself (64 MiB with 4 KiB pages).
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 16_384;

/// The writer's side: a non-blocking nudge after each commit.
pub struct Nudge(SyncSender<()>);

impl Nudge {
    pub fn committed(&self) {
        let _ = self.0.try_send(());
    }
}

/// Starts the checkpoint thread on `conn`; it ends when the [`Nudge`] is dropped.
pub fn spawn(conn: Connection) -> std::io::Result<Nudge> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new().name("orochi-store-checkpoint".into()).spawn(move || run(&conn, &rx))?;
    Ok(Nudge(tx))
}

fn run(conn: &Connection, nudges: &Receiver<()>) {
    while nudges.recv().is_ok() {
        std::thread::sleep(EVERY);
        let gone = matches!(nudges.try_recv(), Err(TryRecvError::Disconnected));
        // PASSIVE never blocks the writer or readers; frames it cannot copy yet wait for the next round.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        if gone {
            break;
        }
    }
}
