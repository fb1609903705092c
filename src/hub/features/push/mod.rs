//! Web Push for @mentions and opted-in channels. The message path only queues a job
//! (`try_send`, never waiting); a worker task finds the subscriptions, encrypts (RFC 8291),
//! signs (VAPID) and delivers with TTL, Urgency and a per-channel Topic. A 404/410 from the
//! push service removes the subscription; other failures are retried, then logged.

pub mod subscriptions;
pub mod vapid;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

pub use crate::hub::store::domain::PushJob;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use web_push_native::{Auth, WebPushBuilder, p256};

use crate::hub::store::{Store, StoreError};
pub use subscriptions::{Subscription, SubscriptionError};
pub use vapid::VapidKeys;


/// Totals of one delivery round.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Delivery {
    pub sent: usize,
    pub removed: usize,
    pub failed: usize,
}

/// Who has subscriptions, so the message path can skip messages nobody is notified of
/// without touching the database.
#[derive(Default)]
struct Interest {
    owners: HashSet<String>,
    channels: HashSet<String>,
}

pub struct Push {
    pub keys: Option<Arc<VapidKeys>>,
    store: Store,
    queue: mpsc::Sender<PushJob>,
    interest: RwLock<Interest>,
}

impl Push {
    /// Starts the worker; without keys, nothing is ever queued.
    pub async fn start(keys: Option<VapidKeys>, store: Store) -> Result<Push, StoreError> {
        let keys = keys.map(Arc::new);
        let (queue, rx) = mpsc::channel(1024);
        if let Some(k) = keys.clone() {
            tokio::spawn(worker(rx, k, store.clone()));
        }
        let push = Push { keys, store, queue, interest: RwLock::default() };
        push.refresh().await?;
        Ok(push)
    }

    /// Reloads who is subscribed; call after any subscription change.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let subs = self.store.push_subscriptions().await?;
        let mut i = self.interest.write().expect("interest lock");
        i.owners = subs.iter().map(|s| s.owner.clone()).filter(|o| !o.is_empty()).collect();
        i.channels = subs.iter().flat_map(|s| s.channels.iter().cloned()).collect();
        Ok(())
    }

    /// Called after a commit; only a set lookup and a `try_send`, never a wait.
    pub fn enqueue(&self, channel: &str, sender: &str, content: &str, mentions: &[String], audience: Option<&str>) {
        if self.keys.is_none() {
            return;
        }
        {
            let i = self.interest.read().expect("interest lock");
            if !i.channels.contains(channel) && !mentions.iter().any(|m| i.owners.contains(m)) {
                return;
            }
        }
        let job = PushJob {
            channel: channel.into(),
            sender: sender.into(),
            content: content.into(),
            mentions: mentions.to_vec(),
            audience: audience.map(String::from),
        };
        if self.queue.try_send(job).is_err() {
            tracing::warn!("push queue full; a notification was dropped");
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<PushJob>, keys: Arc<VapidKeys>, store: Store) {
    let http = crate::http_client::client(Duration::from_secs(15));
    while let Some(job) = rx.recv().await {
        let targets = match store.push_targets(&job).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read push subscriptions");
                continue;
            }
        };
        let mentioned = |s: &Subscription| job.mentions.contains(&s.owner);
        for sub in targets {
            let urgent = mentioned(&sub);
            let title = if urgent { format!("{} mentioned you in {}", job.sender, job.channel) } else { format!("{} in {}", job.sender, job.channel) };
            let note = Notification { title, body: preview(&job.content), channel: job.channel.clone(), urgent };
            deliver(&http, &keys, &store, &sub, &note).await;
        }
    }
}

/// One notification as the service worker shows it.
pub struct Notification {
    pub title: String,
    pub body: String,
    pub channel: String,
    pub urgent: bool,
}

fn preview(content: &str) -> String {
    let mut s: String = content.chars().take(200).collect();
    if content.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// RFC 8030 Topic: at most 32 URL-safe characters, one per channel, so a device that was
/// offline gets the latest per channel instead of a flood.
pub fn topic(channel: &str) -> String {
    hex::encode(Sha256::digest(channel.as_bytes()))[..32].to_string()
}

/// Sends to one subscription with up to three attempts; returns what happened.
pub async fn deliver(http: &reqwest::Client, keys: &VapidKeys, store: &Store, sub: &Subscription, note: &Notification) -> Delivery {
    let mut outcome = Delivery::default();
    let payload = json!({"title": note.title, "body": note.body, "tag": format!("orochi-{}", note.channel), "url": format!("/?channel={}", url::form_urlencoded::byte_serialize(note.channel.as_bytes()).collect::<String>())});
    let request = match build(keys, sub, payload.to_string(), note) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(endpoint = %sub.host(), error = %e, "cannot build a push request");
            outcome.failed = 1;
            return outcome;
        }
    };
    for attempt in 1..=3u32 {
        let Some(req) = request.try_clone() else { break };
        match http.execute(req).await {
            Ok(r) if r.status().is_success() => {
                outcome.sent = 1;
                return outcome;
            }
            Ok(r) if matches!(r.status().as_u16(), 404 | 410) => {
                tracing::info!(endpoint = %sub.host(), "push subscription gone; removing it");
                if let Err(e) = store.remove_push_subscription(&sub.endpoint, None).await {
                    tracing::warn!(error = %e, "cannot remove a dead subscription");
                }
                outcome.removed = 1;
                return outcome;
            }
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                tracing::warn!(endpoint = %sub.host(), status = %r.status(), "push service refused the notification");
                break;
            }
            Ok(r) => {
                let wait = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::from(attempt));
                tracing::debug!(status = %r.status(), attempt, "push failed; retrying");
                tokio::time::sleep(Duration::from_secs(wait.min(30))).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "push request failed; retrying");
                tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
            }
        }
    }
    tracing::warn!(endpoint = %sub.host(), "push undelivered after retries");
    outcome.failed = 1;
    outcome
}

/// Why a push request could not be built: the subscription a browser gave is malformed.
#[derive(Debug, thiserror::Error)]
enum BuildError {
    #[error("endpoint: {0}")]
    Endpoint(#[source] axum::http::uri::InvalidUri),
    #[error("p256dh is not a P-256 key")]
    Key,
    #[error("auth is not 16 bytes")]
    Auth,
    #[error("cannot encrypt the notification: {0}")]
    Encrypt(#[source] web_push_native::Error),
    #[error("cannot send it as an HTTP request: {0}")]
    Request(#[source] reqwest::Error),
}

fn build(keys: &VapidKeys, sub: &Subscription, body: String, note: &Notification) -> Result<reqwest::Request, BuildError> {
    let endpoint = sub.endpoint.parse().map_err(BuildError::Endpoint)?;
    let ua_public = URL_SAFE_NO_PAD
        .decode(&sub.p256dh)
        .ok()
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
        .ok_or(BuildError::Key)?;
    let auth = URL_SAFE_NO_PAD.decode(&sub.auth).ok().filter(|a| a.len() == 16).ok_or(BuildError::Auth)?;
    let ttl = if note.urgent { Duration::from_secs(86_400) } else { Duration::from_secs(3_600) };
    let mut req = WebPushBuilder::new(endpoint, ua_public, Auth::clone_from_slice(&auth))
        .with_valid_duration(ttl)
        .with_vapid(&keys.pair, &keys.subject)
        .build(body)
        .map_err(BuildError::Encrypt)?;
    let headers = req.headers_mut();
    headers.insert("Urgency", if note.urgent { "high" } else { "normal" }.parse().expect("static header"));
    headers.insert("Topic", topic(&note.channel).parse().expect("hex is a valid header"));
    reqwest::Request::try_from(req.map(reqwest::Body::from)).map_err(BuildError::Request)
}
