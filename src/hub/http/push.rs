//! Browser push subscriptions: the VAPID public key (open), subscribe and unsubscribe, this
//! browser's state, and a test notification. A subscription belongs to the workspace whose
//! token made it: a workspace token sees and changes only its own, the admin all.

use std::sync::Arc;

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, Caller};
use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::features::push::{self, Delivery, Notification, Subscription, subscriptions};

type S = State<Arc<HubState>>;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/push/vapid-key", get(vapid_key))
        .route("/api/push/subscribe", post(subscribe))
        .route("/api/push/unsubscribe", post(unsubscribe))
        .route("/api/push/subscription", get(state_of))
        .route("/api/push/test", post(test))
}

fn unavailable() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, "Push notifications not configured; run scitex-orochi setup-push".into())
}

async fn vapid_key(State(st): S) -> ApiResult<Json<Value>> {
    let keys = st.push.keys.as_ref().ok_or_else(unavailable)?;
    Ok(Json(json!({"public_key": keys.public_key})))
}

#[derive(Deserialize)]
struct Keys {
    p256dh: Option<String>,
    auth: Option<String>,
}

#[derive(Deserialize)]
struct SubscribeBody {
    endpoint: Option<String>,
    keys: Option<Keys>,
    /// The name people @mention to reach this browser.
    name: Option<String>,
    /// Channels whose every message should notify.
    #[serde(default)]
    channels: Vec<String>,
}

/// Only this workspace's subscriptions; `None` for the admin.
fn scope(who: &Principal) -> Option<&str> {
    (*who != Principal::Admin).then(|| who.workspace_id())
}

async fn subscribe(
    State(st): S,
    Caller(who): Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Body(b): Body<SubscribeBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if st.push.keys.is_none() {
        return Err(unavailable());
    }
    let endpoint = b.endpoint.map(|e| e.trim().to_string()).unwrap_or_default();
    let keys = b.keys.unwrap_or(Keys { p256dh: None, auth: None });
    let (p256dh, auth) = (keys.p256dh.unwrap_or_default().trim().to_string(), keys.auth.unwrap_or_default().trim().to_string());
    if endpoint.is_empty() || p256dh.is_empty() || auth.is_empty() {
        return Err(ApiError::bad_request("endpoint, keys.p256dh, and keys.auth are required"));
    }
    subscriptions::check(&endpoint, &p256dh, &auth).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if b.channels.len() > 100 || b.channels.iter().any(|c| c.is_empty() || c.len() > 256) {
        return Err(ApiError::bad_request("channels must be at most 100 names of 1-256 characters"));
    }
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(300).collect();
    let owner: String = b.name.unwrap_or_default().trim().chars().take(128).collect();
    // Mentions of another workspace's name are not this workspace's to receive.
    if st.names.holder(&owner).is_some_and(|h| h != who.workspace_id()) {
        return Err(ApiError(StatusCode::CONFLICT, format!("the name {owner:?} belongs to another workspace")));
    }
    let sub = Subscription {
        endpoint,
        p256dh,
        auth,
        owner,
        channels: b.channels,
        user_agent,
        created_at: String::new(),
        workspace_id: who.workspace_id().to_string(),
        token_hash: match who {
            Principal::Admin => String::new(),
            Principal::Workspace(_) => crate::hub::state::auth::hash_token(&crate::hub::state::auth::presented_token(&headers, query.as_deref())),
        },
    };
    let total = st.store.upsert_push_subscription(sub, who == Principal::Admin)
        .await?
        .ok_or_else(|| ApiError(StatusCode::CONFLICT, "this endpoint is subscribed by another workspace".into()))?;
    st.push.refresh().await?;
    Ok((StatusCode::CREATED, Json(json!({"status": "subscribed", "total_subscriptions": total}))))
}

#[derive(Deserialize)]
struct EndpointBody {
    endpoint: Option<String>,
}

async fn unsubscribe(State(st): S, Caller(who): Caller, Body(b): Body<EndpointBody>) -> ApiResult<Json<Value>> {
    let Some(endpoint) = b.endpoint.filter(|e| !e.trim().is_empty()) else {
        return Err(ApiError::bad_request("endpoint is required"));
    };
    let was = st.store.remove_push_subscription(endpoint.trim(), scope(&who)).await?;
    st.push.refresh().await?;
    Ok(Json(json!({"status": "unsubscribed", "was_subscribed": was})))
}

/// Whether this browser's endpoint is subscribed, and as whom.
async fn state_of(State(st): S, Caller(who): Caller, Query(q): Query<EndpointBody>) -> ApiResult<Json<Value>> {
    let all = mine(&st, &who).await?;
    let total = all.len();
    let mine = q.endpoint.and_then(|e| all.into_iter().find(|s| s.endpoint == e));
    Ok(Json(match mine {
        Some(s) => json!({"subscribed": true, "name": s.owner, "channels": s.channels, "created_at": s.created_at, "total_subscriptions": total}),
        None => json!({"subscribed": false, "total_subscriptions": total}),
    }))
}

/// The subscriptions `who` may see.
async fn mine(st: &HubState, who: &Principal) -> ApiResult<Vec<Subscription>> {
    let all = st.store.push_subscriptions().await?;
    Ok(match scope(who) {
        Some(ws) => all.into_iter().filter(|s| s.workspace_id == ws).collect(),
        None => all,
    })
}

/// Sends a test notification to every subscription the caller may see.
async fn test(State(st): S, Caller(who): Caller) -> ApiResult<Json<Delivery>> {
    let keys = st.push.keys.clone().ok_or_else(unavailable)?;
    let http = crate::http_client::client(std::time::Duration::from_secs(15));
    let note = Notification { title: "Orochi test notification".into(), body: "Push works for this browser.".into(), channel: "#orochi-test".into(), urgent: false };
    let mut total = Delivery::default();
    for sub in mine(&st, &who).await? {
        let d = push::deliver(&http, &keys, &st.store, &sub, &note).await;
        total.sent += d.sent;
        total.removed += d.removed;
        total.failed += d.failed;
    }
    st.push.refresh().await?;
    Ok(Json(total))
}
