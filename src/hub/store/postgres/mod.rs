//! PostgreSQL persistence: a pool of connections (`deadpool-postgres` over `tokio-postgres`)
//! for reads and single writes, and one writer task with group commit for messages (see
//! [`writer`]). The pool opens connections on demand, so after the database was down the
//! next operation reconnects; an operation that fails meanwhile returns a [`StoreError`].
//! One file per domain implements that domain's trait.

mod files;
mod inbox;
mod keys;
mod listen;
mod members;
mod messages;
mod names;
mod permissions;
mod presence;
mod push;
mod reactions;
pub(super) mod schema;
mod timeline;
mod todos;
mod workspaces;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{Backend, Inbox, Messages, Peers};
use super::peers::{PeerNote, Sink};
use super::delivery::{OnCommit, Progress};
use super::message::{Appended, HistoryQuery, HistoryRow, MembershipChange, NewMessage, Recipient, Waiting, inbox_since};
use super::delivery;
use super::error::StoreError;
use crate::hub::store::domain::Principal;
use listen::Connector;
use timeline::Timeline;
use writer::{Job, Writer};

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::database(e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::database(e)
    }
}

/// Connections the pool keeps at most: reads run on them at once, and the writer takes one
/// per batch.
const POOL_SIZE: usize = 16;

/// How long an operation waits for a connection, or for a new one to open, before it fails:
/// while the database is down, callers get an error instead of hanging.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// The PostgreSQL store.
pub struct PgStore {
    pool: Pool,
    jobs: mpsc::Sender<Job>,
    progress: Arc<Progress>,
    timeline: Arc<Timeline>,
    /// This process among the hubs on the database (in its notes).
    replica: String,
    /// Dropped with the store: ends the listening task.
    _stop: watch::Sender<()>,
}

impl PgStore {
    /// Queues a membership change for the next batch's transaction; returns once it committed.
    async fn queue_membership(&self, change: MembershipChange) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Membership(change, tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Connects, brings the schema up to date and starts the writer. Call it inside a Tokio
    /// runtime. `url` is a `postgres://` or `postgresql://` URL; it never appears in an error.
    pub async fn open(url: &str, retention_max_rows: u64, inbox_max: u64) -> Result<PgStore, StoreError> {
        let mut config = driver_config(url)?;
        config.connect_timeout(CONNECT_WAIT);
        if config.get_application_name().is_none() {
            config.application_name("scitex-orochi");
        }
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        // TLS when the URL asks for it (and then with the server's certificate verified, as
        // every outbound TLS of this binary is); `prefer`, the default, stays in plain text
        // rather than fail on a server's self-signed certificate.
        let connector = match config.get_ssl_mode() {
            SslMode::Require => Connector::Tls(MakeRustlsConnect::new((*crate::tls::client_config()).clone())),
            _ => Connector::Plain,
        };
        let manager = match &connector {
            Connector::Tls(tls) => Manager::from_config(config.clone(), tls.clone(), recycling),
            Connector::Plain => Manager::from_config(config.clone(), NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_WAIT))
            .create_timeout(Some(CONNECT_WAIT))
            .recycle_timeout(Some(CONNECT_WAIT))
            .build()
            .map_err(StoreError::database)?;
        let (rows, heard, heads) = {
            let mut client = pool.get().await?;
            schema::migrate(&mut client).await?;
            // Listening before the heads are read: a commit in between is heard.
            let heard = listen::subscribe(&config, &connector).await?;
            (messages::count(&client).await?, heard, messages::heads(&client).await?)
        };
        let timeline = Timeline::start(pool.clone(), heads);
        let replica = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let (stop, stopped) = watch::channel(());
        let listener = listen::Listener {
            config,
            connector,
            pool: pool.clone(),
            replica: replica.clone(),
            timeline: Arc::downgrade(&timeline),
            stop: stopped,
        };
        tokio::spawn(listener.run(heard));
        let (jobs, rx) = mpsc::channel(65_536);
        let (committed, progress) = delivery::spawn(Some(in_order(timeline.clone())));
        let writer = Writer::new(pool.clone(), progress.clone(), timeline.clone(), rows, retention_max_rows, inbox_max);
        tokio::spawn(writer.run(rx, committed));
        Ok(PgStore { pool, jobs, progress, timeline, replica, _stop: stop })
    }

    /// Returns once everything queued before, delivered marks included, was committed.
    async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Flush(tx)).await.map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// A pooled connection (a new one when the pool has none idle).
    async fn conn(&self) -> Result<deadpool_postgres::Client, StoreError> {
        Ok(self.pool.get().await?)
    }
}

/// The delivery task's route: a new message waits for its channel's timeline; a resend's
/// answer or a failure needs no order.
fn in_order(timeline: Arc<Timeline>) -> delivery::Route {
    Box::new(move |(result, done)| match &result {
        Ok(Appended::New(stored)) => {
            let (channel, seq) = (stored.msg.channel.clone(), stored.seq);
            timeline.own(&channel, seq, (result, done));
        }
        _ => done(result),
    })
}

/// The driver's reading of `url`. libpq's `sslmode=verify-ca` and `verify-full` mean `require`
/// here: the certificate is verified in every TLS mode.
pub(super) fn driver_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    // The driver's own parser, as config's: it takes libpq's forms, `?host=/socket/dir` too.
    let url = match url.rsplit_once('?') {
        Some((base, query)) => {
            let query = query.split('&').map(|kv| match kv {
                "sslmode=verify-ca" | "sslmode=verify-full" => "sslmode=require",
                other => other,
            });
            format!("{base}?{}", query.collect::<Vec<_>>().join("&"))
        }
        None => url.to_string(),
    };
    url.parse().map_err(|_| StoreError::BadUrl)
}

#[async_trait]
impl Backend for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.conn().await?.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn kept_secret(&self, name: &str, generated: String) -> Result<Option<String>, StoreError> {
        let c = self.conn().await?;
        c.execute("INSERT INTO hub_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&name, &generated]).await?;
        Ok(Some(c.query_one("SELECT value FROM hub_secrets WHERE name = $1", &[&name]).await?.get(0)))
    }
}

#[async_trait]
impl Messages for PgStore {
    async fn append(&self, msg: NewMessage, done: OnCommit) -> Result<(), StoreError> {
        self.jobs.send(Job::Append(msg, done)).await.map_err(|_| StoreError::Closed)
    }

    async fn history(&self, q: HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = messages::history(&self.conn().await?, &q).await?;
        self.progress.reads_delivered().await;
        self.timeline.caught_up(&rows).await;
        Ok(rows)
    }

    async fn recent(&self, reader: Principal, limit: i64) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = messages::recent(&self.conn().await?, &reader, limit).await?;
        self.progress.reads_delivered().await;
        self.timeline.caught_up(&rows).await;
        Ok(rows)
    }

    async fn channels(&self, reader: Principal) -> Result<Vec<String>, StoreError> {
        messages::channels(&self.conn().await?, &reader).await
    }

    async fn message_count(&self) -> Result<u64, StoreError> {
        messages::count(&self.conn().await?).await
    }
}

#[async_trait]
impl Peers for PgStore {
    fn shared(&self) -> bool {
        true
    }

    fn replica(&self) -> &str {
        &self.replica
    }

    fn follow_peers(&self, sink: Sink) {
        self.timeline.set_sink(sink);
    }

    async fn tell_peers(&self, note: PeerNote) -> Result<(), StoreError> {
        listen::tell(&self.conn().await?, &self.replica, note).await
    }
}

#[async_trait]
impl Inbox for PgStore {
    fn delivered(&self, ids: Vec<i64>) {
        if let Err(mpsc::error::TrySendError::Full(job)) = self.jobs.try_send(Job::Delivered(ids)) {
            let jobs = self.jobs.clone();
            tokio::spawn(async move { jobs.send(job).await });
        }
    }

    async fn inbox(&self, workspace: String, agent: String, max_age_days: u64) -> Result<Waiting, StoreError> {
        // Most registers find nothing: one read says so. A mention committed after this read
        // reaches the (already registered) agent live.
        if !inbox::any(&self.conn().await?, &workspace, &agent).await? {
            return Ok(Waiting::default());
        }
        self.progress.reads_delivered().await;
        let since = inbox_since(max_age_days);
        // The delivered marks of those batches commit first, so a mention that reached the
        // agent live is not handed out again.
        self.flush().await?;
        let waiting = inbox::waiting(&self.conn().await?, &workspace, &agent, since).await?;
        // A mention another hub committed may be on its way here live: once it arrived, the
        // inbox is read again without it.
        if !self.timeline.caught_up(waiting.rows.iter().map(|(_, r)| r)).await {
            return Ok(waiting);
        }
        self.flush().await?;
        inbox::waiting(&self.conn().await?, &workspace, &agent, since).await
    }

    async fn inbox_handed(&self, workspace: String, agent: String, sent: Vec<i64>, told: bool) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        inbox::handed(&tx, &workspace, &agent, &sent, told).await?;
        Ok(tx.commit().await?)
    }

    async fn requeue_inbox(&self, who: Recipient, msg_ids: Vec<String>, max: u64) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        inbox::requeue(&tx, &who, &msg_ids, max).await?;
        Ok(tx.commit().await?)
    }

    async fn expire_inbox(&self, max_age_days: u64) -> Result<usize, StoreError> {
        inbox::expire(&self.conn().await?, inbox_since(max_age_days)).await
    }
}

#[cfg(test)]
mod tests {
    use super::driver_config;
    use tokio_postgres::config::{Host, SslMode};

    #[test]
    fn libpq_url_forms_reach_the_driver() {
        let socket = driver_config("postgres://orochi@/hub?host=/run/orochi-pg").unwrap();
        assert_eq!(socket.get_hosts(), [Host::Unix("/run/orochi-pg".into())]);
        assert_eq!(socket.get_dbname(), Some("hub"));
        let tls = driver_config("postgresql://u:p%3Fw@db.example:5433/hub?application_name=x&sslmode=verify-full").unwrap();
        assert_eq!(tls.get_ssl_mode(), SslMode::Require);
        assert_eq!(tls.get_password(), Some(&b"p?w"[..]));
        assert!(driver_config("postgres://u@h/db?sslmode=bogus").is_err());
    }
}
