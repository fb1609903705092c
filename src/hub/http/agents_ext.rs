//! REST for the agent bridge: reactions and health records. Writes need the admin token,
//! reads any valid token; workspace tokens see only their workspace's health records.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::{Admin, ApiError, ApiResult, Body, Caller};
use crate::hub::HubState;
use crate::hub::state::names;
use crate::hub::state::auth::Principal;
use crate::hub::features::health::{HealthUpdate, merge};
use crate::protocol::payload::{emoji, message_id};
use crate::protocol::{ErrorCode, FrameError};

type S = State<Arc<HubState>>;

/// Most message ids one reactions read takes.
const MAX_IDS: usize = 1000;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/reactions", get(list_reactions).post(react))
        .route("/api/agents/health", get(list_health).post(post_health))
}

fn frame_error(e: FrameError) -> ApiError {
    match e.code {
        ErrorCode::NotFound => ApiError::not_found(e.detail),
        ErrorCode::NameTaken => ApiError(StatusCode::CONFLICT, e.detail),
        ErrorCode::StoreUnavailable => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.detail),
        _ => ApiError::bad_request(e.detail),
    }
}

/// `{message_id, emoji, reactor}`: toggles the reaction; answers what it did and the
/// message's reactions now.
async fn react(State(st): S, _: Admin, Body(body): Body<Map<String, Value>>) -> ApiResult<Json<Value>> {
    let id = message_id(&body).map_err(frame_error)?;
    let emoji = emoji(&body).map_err(frame_error)?;
    let reactor = match body.get("reactor") {
        Some(Value::String(r)) => r.clone(),
        _ => return Err(ApiError::bad_request("reactor must be an agent or user name")),
    };
    names::check(&reactor)?;
    let t = st.toggle_reaction(&Principal::Admin, id.clone(), emoji.clone(), reactor.clone()).await.map_err(frame_error)?;
    Ok(Json(json!({"status": "ok", "action": t.action, "message_id": id, "emoji": emoji, "reactor": reactor,
        "channel": t.channel, "reactions": t.reactions})))
}

/// `?message_ids=a,b,c` → `{id: {emoji: [reactors]}}` for the ids that have reactions.
async fn list_reactions(State(st): S, Caller(who): Caller, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Value>> {
    let ids: Vec<String> = q
        .get("message_ids")
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!("message_ids must list 1-{MAX_IDS} comma-separated ids")));
    }
    Ok(Json(json!(st.store.reactions_of(&who, ids).await?)))
}

/// `{agent, state, reason?, source?, workspace_id?}`: records health (admin; `workspace_id`
/// names the agent's workspace, default the admin one).
async fn post_health(State(st): S, _: Admin, Body(body): Body<Map<String, Value>>) -> ApiResult<(StatusCode, Json<Value>)> {
    let workspace = match body.get("workspace_id") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(w)) if w.len() <= 128 => w.clone(),
        Some(_) => return Err(ApiError::bad_request("workspace_id must be a string")),
    };
    let update = HealthUpdate::parse(&body, None).map_err(frame_error)?;
    let mut out = json!({"status": "ok", "agent": update.agent, "workspace_id": workspace});
    merge(&mut out, &st.record_health(&workspace, update).await.map_err(frame_error)?);
    Ok((StatusCode::CREATED, Json(out)))
}

/// Every record the caller may see, connected or not, sorted by agent.
async fn list_health(State(st): S, Caller(who): Caller) -> Json<Vec<Value>> {
    let inner = st.registry.read();
    let mut out: Vec<(&(String, String), Value)> = inner
        .health
        .iter()
        .filter(|((ws, _), _)| who == Principal::Admin || ws == who.workspace_id())
        .map(|(key, r)| {
            let mut v = json!({"agent": key.1, "workspace_id": key.0});
            merge(&mut v, r);
            (key, v)
        })
        .collect();
    out.sort_by(|a, b| (&a.0.1, &a.0.0).cmp(&(&b.0.1, &b.0.0)));
    Json(out.into_iter().map(|(_, v)| v).collect())
}
