//! How hub processes on one database hear each other: every batch's transaction announces the
//! heads it moved on [`COMMITS`] (PostgreSQL delivers a `NOTIFY` at commit, in commit order,
//! and never for a transaction that rolled back), and [`super::PgStore`]'s notes go out on
//! [`NOTES`]. One connection per process `LISTEN`s to both; after losing it, the process
//! reconnects and catches up from the heads, so a notification missed meanwhile costs a
//! fetch, not a message.

use std::sync::Weak;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Notification};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::messages;
use super::timeline::Timeline;
use crate::hub::store::error::StoreError;
use crate::hub::store::peers::PeerNote;

/// Where commits are announced.
const COMMITS: &str = "orochi_commits";
/// Where processes' notes go.
const NOTES: &str = "orochi_notes";

/// A `NOTIFY` payload must stay under 8000 bytes: a batch that moved many channels' heads
/// announces them in parts of about this size.
const PAYLOAD_BYTES: usize = 7000;

/// Pause between attempts to reconnect the listening connection.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// The heads one commit moved.
#[derive(Serialize, Deserialize)]
struct Commit {
    heads: Vec<(String, u64)>,
}

/// A note and who said it.
#[derive(Serialize, Deserialize)]
struct Said {
    by: String,
    note: PeerNote,
}

/// How the store reaches the server: the pool's settings, for the one connection outside it.
#[derive(Clone)]
pub(super) enum Connector {
    Plain,
    Tls(MakeRustlsConnect),
}

/// Announces, inside the batch's transaction, the last `seq` it gives each channel.
pub(super) async fn announce_commit(tx: &impl GenericClient, heads: &[(&str, u64)]) -> Result<(), StoreError> {
    let mut part = Commit { heads: Vec::new() };
    let mut size = 0;
    for (channel, seq) in heads {
        part.heads.push((channel.to_string(), *seq));
        size += channel.len() * 2 + 24;
        if size > PAYLOAD_BYTES {
            notify(tx, COMMITS, &part).await?;
            part.heads.clear();
            size = 0;
        }
    }
    if !part.heads.is_empty() {
        notify(tx, COMMITS, &part).await?;
    }
    Ok(())
}

/// Tells the other processes (committed at once).
pub(super) async fn tell(c: &impl GenericClient, by: &str, note: PeerNote) -> Result<(), StoreError> {
    notify(c, NOTES, &Said { by: by.to_string(), note }).await
}

async fn notify(c: &impl GenericClient, channel: &str, payload: &impl Serialize) -> Result<(), StoreError> {
    let text = serde_json::to_string(payload).expect("announcements serialize");
    let stmt = c.prepare_cached("SELECT pg_notify($1, $2)").await?;
    c.execute(&stmt, &[&channel, &text]).await?;
    Ok(())
}

/// The listening connection: a client and what it hears.
pub(super) struct Subscription {
    _client: Client,
    heard: mpsc::UnboundedReceiver<Notification>,
}

/// Connects outside the pool and listens to both channels.
pub(super) async fn subscribe(config: &Config, connector: &Connector) -> Result<Subscription, StoreError> {
    let (tx, heard) = mpsc::unbounded_channel();
    let client = match connector {
        Connector::Plain => {
            let (client, conn) = config.connect(NoTls).await?;
            tokio::spawn(forward(conn, tx));
            client
        }
        Connector::Tls(tls) => {
            let (client, conn) = config.connect(tls.clone()).await?;
            tokio::spawn(forward(conn, tx));
            client
        }
    };
    client.batch_execute(&format!("LISTEN {COMMITS}; LISTEN {NOTES}")).await?;
    Ok(Subscription { _client: client, heard })
}

/// Drives the connection, passing on what it hears, until it fails or nobody listens.
async fn forward<S, T>(mut conn: Connection<S, T>, heard: mpsc::UnboundedSender<Notification>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
    while let Some(m) = messages.next().await {
        match m {
            Ok(AsyncMessage::Notification(n)) => {
                if heard.send(n).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the connection that hears other hubs failed");
                return;
            }
        }
    }
}

/// What the listening task needs.
pub(super) struct Listener {
    pub(super) config: Config,
    pub(super) connector: Connector,
    pub(super) pool: Pool,
    /// This process's id in its notes.
    pub(super) replica: String,
    pub(super) timeline: Weak<Timeline>,
    /// Ends the task when the store is dropped.
    pub(super) stop: watch::Receiver<()>,
}

impl Listener {
    /// Hears `first` and then every reconnection's, until the store is dropped.
    pub(super) async fn run(self, first: Subscription) {
        let mut stop = self.stop.clone();
        let mut sub = Some(first);
        loop {
            if let Some(s) = sub.take() {
                tokio::select! {
                    _ = self.hear(s) => {}
                    _ = stop.changed() => return,
                }
                tracing::warn!("stopped hearing other hubs; reconnecting");
            }
            tokio::select! {
                _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
                _ = stop.changed() => return,
            }
            match self.reconnect().await {
                Ok(s) => sub = Some(s),
                Err(e) => tracing::warn!(error = %e, "cannot reconnect to hear other hubs"),
            }
        }
    }

    /// Listens again, then catches up to the heads: whatever was announced in between.
    async fn reconnect(&self) -> Result<Subscription, StoreError> {
        let s = subscribe(&self.config, &self.connector).await?;
        let heads = messages::heads(&self.pool.get().await?).await?;
        if let Some(t) = self.timeline.upgrade() {
            t.resync(heads);
        }
        tracing::info!("hearing other hubs again");
        Ok(s)
    }

    async fn hear(&self, mut s: Subscription) {
        while let Some(n) = s.heard.recv().await {
            let Some(t) = self.timeline.upgrade() else { return };
            match n.channel() {
                COMMITS => match serde_json::from_str::<Commit>(n.payload()) {
                    Ok(c) => c.heads.iter().for_each(|(channel, seq)| t.announced(channel, *seq)),
                    Err(e) => tracing::warn!(error = %e, "unreadable commit announcement"),
                },
                NOTES => match serde_json::from_str::<Said>(n.payload()) {
                    Ok(s) => t.note(s.note, s.by == self.replica),
                    Err(e) => tracing::warn!(error = %e, "unreadable note from another hub"),
                },
                _ => {}
            }
        }
    }
}
