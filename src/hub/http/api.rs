//! Agents, channels, messages, history, stats, resources, config, health and metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::{Admin, ApiError, ApiResult, Body, Caller, int_param};
use crate::VERSION;
use crate::hub::state::auth::Principal;
use crate::hub::pipeline::history::Params;
use crate::hub::state::fleet;
use crate::hub::state::names;
use crate::hub::state::registry::AgentInfo;
use crate::hub::pipeline::router::Origin;
use crate::hub::store::{HistoryQuery, MembershipChange, StoreError};
use crate::hub::{HubState, socket::agent, socket::observer};
use crate::protocol::{ErrorCode, Frame, Kind, Post};

type S = State<Arc<HubState>>;

/// A heartbeat this recent counts as online in `/api/agents/registry`.
const ONLINE_WINDOW: Duration = Duration::from_secs(60);
/// `/api/messages` returns at most this many rows, as the reference.
const RECENT_CAP: i64 = 500;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ws", get(observer))
        .route("/api/config", get(config))
        .route("/api/agents", get(agents))
        .route("/api/agents/registry", get(registry))
        .route("/api/agents/purge-stale", post(purge_stale))
        .route("/api/resources", get(resources))
        .route("/api/channels", get(channels))
        .route("/api/channels/", get(channel_list))
        .route("/api/channels/{channel}/members", post(join))
        .route("/api/stats", get(stats))
        .route("/api/messages", get(recent).post(post_message))
        .route("/api/history/{channel}", get(history))
}

async fn healthz(State(st): S) -> Response {
    match st.store.ping().await {
        Ok(()) => Json(json!({"status": "ok", "version": VERSION, "uptime_secs": st.started.elapsed().as_secs()})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "error", "error": e.to_string()}))).into_response(),
    }
}

/// Counters cover every workspace, so only the admin reads them.
async fn metrics(State(st): S, _: Admin) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], st.metrics.render()).into_response()
}

/// A browser page from a foreign origin is refused (403) before the token is looked at.
async fn observer(
    State(st): S,
    headers: HeaderMap,
    caller: Result<Admin, ApiError>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if !super::origin::admitted(&st.config.cors_origins, &headers) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "observer socket refused: foreign origin");
        return (StatusCode::FORBIDDEN, "Forbidden: origin not allowed").into_response();
    }
    if caller.is_err() {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return e.into_response(),
    };
    let cap = agent::hard_cap(st.config.max_frame_bytes);
    let (me, outbox) = observer::register(st);
    ws.max_message_size(cap).max_frame_size(cap).on_upgrade(move |socket| observer::run(me, outbox, socket))
}

async fn config(State(st): S) -> Json<Value> {
    Json(json!({"version": VERSION, "ws_upstream": st.config.dashboard_ws_upstream}))
}

/// Every agent the caller may see, on this hub and its replicas, by name.
async fn visible(st: &HubState, who: &Principal) -> Vec<AgentInfo> {
    fleet::listing(st, who).await
}

async fn agents(State(st): S, Caller(who): Caller) -> Json<Vec<AgentInfo>> {
    Json(visible(&st, &who).await)
}

/// Online: heard from within [`ONLINE_WINDOW`] (`last_heartbeat` moves with every touch).
async fn registry(State(st): S, Caller(who): Caller) -> Json<Vec<AgentInfo>> {
    let now = chrono::Utc::now();
    let mut out = visible(&st, &who).await;
    for info in &mut out {
        let heard = chrono::DateTime::parse_from_rfc3339(&info.last_heartbeat).ok();
        let online = heard.is_some_and(|t| (now - t.to_utc()).to_std().unwrap_or_default() <= ONLINE_WINDOW);
        info.status = if online { "online" } else { "offline" }.into();
    }
    Json(out)
}

async fn purge_stale(State(st): S, _: Admin) -> Json<Value> {
    let removed = st.reap();
    let remaining = st.registry.read().agents.len();
    Json(json!({"removed": removed, "remaining": remaining}))
}

async fn resources(State(st): S, Caller(who): Caller) -> Json<Map<String, Value>> {
    Json(
        visible(&st, &who)
            .await
            .into_iter()
            .map(|a| {
                let v = json!({"resources": a.resources, "last_heartbeat": a.last_heartbeat, "machine": a.machine, "status": a.status});
                (a.name, v)
            })
            .collect(),
    )
}

/// Live channels with their members, plus stored channels with `[]`. A workspace token sees
/// its own workspace's members, and the channels where it has members or rows it may read.
async fn channel_map(st: &HubState, who: &Principal) -> ApiResult<BTreeMap<String, BTreeSet<String>>> {
    let mut map = {
        let inner = st.registry.read();
        if *who == Principal::Admin {
            inner.channels.clone()
        } else {
            let mine = |name: &String| inner.agents.get(name).is_some_and(|a| a.info.workspace_id == who.workspace_id());
            inner
                .channels
                .iter()
                .map(|(ch, members)| (ch.clone(), members.iter().filter(|m| mine(m)).cloned().collect::<BTreeSet<_>>()))
                .filter(|(_, members)| !members.is_empty())
                .collect()
        }
    };
    for a in fleet::remote(st, who).await {
        for ch in a.channels {
            map.entry(ch).or_default().insert(a.name.clone());
        }
    }
    for ch in st.store.channels(who.clone()).await? {
        map.entry(ch).or_default();
    }
    Ok(map)
}

async fn channels(State(st): S, Caller(who): Caller) -> ApiResult<Json<BTreeMap<String, BTreeSet<String>>>> {
    Ok(Json(channel_map(&st, &who).await?))
}

/// `/api/channels/`: the same channels as a list of `{name, description, members}`, the shape
/// the TypeScript channel bridge looks a channel up in (channels carry no description here).
async fn channel_list(State(st): S, Caller(who): Caller) -> ApiResult<Json<Vec<Value>>> {
    let map = channel_map(&st, &who).await?;
    Ok(Json(map.into_iter().map(|(name, members)| json!({"name": name, "description": "", "members": members})).collect()))
}

#[derive(Deserialize)]
struct JoinBody {
    agent: String,
}

/// Adds `agent` to `channel` for good: live now if connected, and on every later register.
async fn join(State(st): S, _: Admin, Path(channel): Path<String>, Body(body): Body<JoinBody>) -> ApiResult<Json<Value>> {
    let channel = with_hash(&channel);
    names::check(&body.agent)?;
    st.store.change_membership(MembershipChange { agent: body.agent.clone(), channels: vec![channel.clone()], join: true }).await?;
    let live = st.registry.write().join(&body.agent, &channel);
    Ok(Json(json!({"status": "joined", "channel": channel, "agent": body.agent, "live": live})))
}

async fn stats(State(st): S, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let agents: Vec<String> = visible(&st, &who).await.into_iter().map(|a| a.name).collect();
    let map = channel_map(&st, &who).await?;
    let (live_channels, observers) = {
        let inner = st.registry.read();
        (inner.channels.len(), inner.observers.len())
    };
    let push_subscriptions = st.store.count_push_subscriptions((who != Principal::Admin).then(|| who.workspace_id().to_string())).await?;
    Ok(Json(json!({
        "agents_online": agents.len(), "channels_active": live_channels, "observers_connected": observers,
        "agents": agents, "channels": map.keys().collect::<Vec<_>>(),
        "telegram_bridge": {"enabled": false, "running": false, "mode": null}, "push_subscriptions": push_subscriptions,
        "version": VERSION, "uptime_secs": st.started.elapsed().as_secs(),
    })))
}

async fn recent(State(st): S, Caller(who): Caller, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Vec<Value>>> {
    let limit = int_param(&q, "limit")?.unwrap_or(100).clamp(0, RECENT_CAP);
    let rows = match q.get("channel").filter(|c| !c.is_empty()) {
        // One channel's newest rows, oldest first (the TypeScript bridge's history tool).
        Some(channel) => {
            let (since, after_seq, sender, contains, thread) = (None, None, None, None, None);
            let q = HistoryQuery { reader: who, channel: with_hash(channel), since, after_seq, limit, sender, contains, thread };
            let mut rows = st.store.history(q).await?;
            rows.reverse();
            rows
        }
        None => st.store.recent(who, limit).await?,
    };
    Ok(Json(rows.iter().map(|r| r.to_json()).collect()))
}

fn with_hash(channel: &str) -> String {
    if channel.starts_with('#') { channel.to_string() } else { format!("#{channel}") }
}

async fn history(
    State(st): S,
    Caller(reader): Caller,
    Path(channel): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<Value>>> {
    let q = HistoryQuery::from_params(reader, with_hash(&channel), Params::Query(&q)).map_err(|e| ApiError::bad_request(e.detail))?;
    let rows = st.store.history(q).await?;
    Ok(Json(rows.iter().map(|r| r.to_json()).collect()))
}

#[derive(Deserialize)]
struct PostMessage {
    sender: Option<String>,
    payload: Option<Map<String, Value>>,
}

/// Posts through the same pipeline as the socket; answers after the commit.
async fn post_message(State(st): S, _: Admin, Body(body): Body<PostMessage>) -> ApiResult<(StatusCode, Json<Value>)> {
    let payload = body.payload.unwrap_or_default();
    let sender = body.sender.filter(|s| !s.is_empty()).unwrap_or_else(|| "user".into());
    st.names.claim(Principal::Admin.workspace_id(), &sender).await?;
    let frame = Frame::new(Kind::Message, &sender, Value::Object(payload));
    let (tx, rx) = oneshot::channel();
    let submitted = match Post::from_frame(frame, &st.limits()) {
        Ok(post) => st.submit(post, Origin::Rest(tx)).await,
        Err(e) => Err(e),
    };
    match submitted {
        Ok(()) => {}
        Err(e) if matches!(e.code, ErrorCode::ContentTooLarge | ErrorCode::FieldTooLarge) => return Err(ApiError(StatusCode::PAYLOAD_TOO_LARGE, e.detail)),
        Err(e) => return Err(ApiError::bad_request(e.detail)),
    }
    let placed = rx.await.map_err(|_| StoreError::Closed)??;
    Ok((StatusCode::CREATED, Json(json!({"status": "ok", "id": placed.msg_id, "msg_id": placed.msg_id, "seq": placed.seq}))))
}
