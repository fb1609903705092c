//! Workspace routes. Listing tokens and invites needs the admin token (the reference exposed
//! them); a token is returned only by the call that creates it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Json;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, Body, Caller};
use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::store::{DEFAULT_NAME, NewInvite, TokenRole};

type S = State<Arc<HubState>>;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/workspaces", get(list).post(create))
        .route("/api/workspaces/{id}", get(show).delete(remove))
        .route("/api/workspaces/{id}/channels", post(add_channel))
        .route("/api/workspaces/{id}/members", post(add_member))
        .route("/api/workspaces/{id}/invites", get(invites).post(create_invite))
        .route("/api/workspaces/{id}/invites/{invite}", delete(revoke_invite))
        .route("/api/workspaces/{id}/tokens", get(tokens).post(create_token))
        .route("/api/workspaces/{id}/tokens/{token}", delete(revoke_token))
        .route("/api/invites/redeem", post(redeem))
}

fn ok() -> Json<Value> {
    Json(json!({"ok": true}))
}

async fn require(st: &HubState, id: &str) -> ApiResult<()> {
    let id = id.to_string();
    if st.store.workspace_exists(id).await? { Ok(()) } else { Err(ApiError::not_found("Not found")) }
}

/// The admin sees every workspace; a workspace token only its own.
async fn list(State(st): S, Caller(who): Caller) -> ApiResult<Json<Vec<Value>>> {
    let all = st.store.workspaces().await?;
    Ok(Json(all.into_iter().filter(|w| who == Principal::Admin || w["id"] == who.workspace_id()).collect()))
}

async fn show(State(st): S, Caller(who): Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if who != Principal::Admin && id != who.workspace_id() {
        return Err(ApiError::not_found("Not found"));
    }
    st.store.workspace(id).await?.map(Json).ok_or_else(|| ApiError::not_found("Not found"))
}

#[derive(Deserialize)]
struct NewWorkspace {
    name: Option<String>,
    description: Option<String>,
    channels: Option<Vec<String>>,
}

async fn create(State(st): S, _: Admin, Body(b): Body<NewWorkspace>) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = b.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let Some(name) = name else { return Err(ApiError::bad_request("name is required")) };
    if name.chars().count() > 128 {
        return Err(ApiError::bad_request("name is longer than 128 characters"));
    }
    let description = b.description.unwrap_or_default();
    let channels = b.channels.unwrap_or_default();
    let n = name.clone();
    let Some((id, token)) = st.store.create_workspace(n, description, channels).await? else {
        return Err(ApiError(StatusCode::CONFLICT, format!("a workspace named {name:?} exists")));
    };
    let mut obj = st.store.workspace(id).await?.unwrap_or_default();
    obj["token"] = token.into();
    Ok((StatusCode::CREATED, Json(obj)))
}

async fn remove(State(st): S, _: Admin, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let gone = id.clone();
    let Some(hashes) = st.store.delete_workspace(gone).await? else {
        return Err(ApiError::bad_request("Cannot delete (not found or default)"));
    };
    st.live_tokens.revoke(&hashes);
    // Its names are free again.
    st.names.release_workspace(&id).await?;
    Ok(ok())
}

#[derive(Deserialize)]
struct ChannelBody {
    channel: Option<String>,
}

async fn add_channel(State(st): S, _: Admin, Path(id): Path<String>, Body(b): Body<ChannelBody>) -> ApiResult<Json<Value>> {
    let Some(channel) = b.channel.filter(|c| !c.trim().is_empty()) else {
        return Err(ApiError::bad_request("channel is required"));
    };
    require(&st, &id).await?;
    st.store.add_workspace_channel(id, channel).await?;
    Ok(ok())
}

#[derive(Deserialize)]
struct MemberBody {
    agent_name: Option<String>,
    role: Option<String>,
}

async fn add_member(State(st): S, _: Admin, Path(id): Path<String>, Body(b): Body<MemberBody>) -> ApiResult<Json<Value>> {
    let Some(agent) = b.agent_name.filter(|a| !a.trim().is_empty()) else {
        return Err(ApiError::bad_request("agent_name is required"));
    };
    let role = b.role.unwrap_or_else(|| "member".into());
    // The admin placing a name in a workspace gives it that name (409 if another holds it).
    let Some(name) = st.store.workspace_name(id.clone()).await? else { return Err(ApiError::not_found("Not found")) };
    let holder = if name == DEFAULT_NAME { Principal::Admin.workspace_id() } else { id.as_str() };
    st.names.claim(holder, &agent).await?;
    st.store.add_workspace_member(id, agent, role).await?;
    Ok(ok())
}

async fn invites(State(st): S, _: Admin, Path(id): Path<String>) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(st.store.workspace_invites(id).await?))
}

#[derive(Deserialize)]
struct InviteBody {
    created_by: Option<String>,
    role: Option<String>,
    max_uses: Option<i64>,
    expires_hours: Option<f64>,
}

async fn create_invite(
    State(st): S,
    _: Admin,
    Path(id): Path<String>,
    Body(b): Body<InviteBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require(&st, &id).await?;
    let inv = NewInvite {
        created_by: b.created_by.unwrap_or_else(|| "unknown".into()),
        role: b.role.unwrap_or_else(|| "member".into()),
        max_uses: b.max_uses.unwrap_or(0).max(0),
        expires_hours: b.expires_hours.unwrap_or(0.0).max(0.0),
    };
    let v = st.store.create_invite(id, inv).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn revoke_invite(State(st): S, _: Admin, Path((id, invite)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    if !st.store.revoke_invite(id, invite).await? { Err(ApiError::not_found("Invite not found")) } else { Ok(ok()) }
}

#[derive(Deserialize)]
struct RedeemBody {
    token: Option<String>,
    agent_name: Option<String>,
}

async fn redeem(State(st): S, Body(b): Body<RedeemBody>) -> ApiResult<Json<Value>> {
    let (Some(token), Some(agent)) = (b.token.filter(|t| !t.is_empty()), b.agent_name.filter(|a| !a.is_empty())) else {
        return Err(ApiError::bad_request("token and agent_name required"));
    };
    let ws_id = st.store.redeem_invite(token, agent).await?;
    let Some(ws_id) = ws_id else { return Err(ApiError::bad_request("Invalid, expired, or exhausted invite")) };
    st.store.workspace(ws_id).await?.map(Json).ok_or_else(|| ApiError::not_found("Not found"))
}

async fn tokens(State(st): S, _: Admin, Path(id): Path<String>) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(st.store.workspace_tokens(id).await?))
}

#[derive(Deserialize)]
struct TokenBody {
    label: Option<String>,
    /// `member` (default) or `approver`.
    role: Option<String>,
    /// The person an approver token names.
    person: Option<String>,
}

/// Most characters of an approver's name.
const MAX_PERSON_CHARS: usize = 128;

fn token_role(b: &TokenBody) -> ApiResult<TokenRole> {
    let person = b.person.as_deref().unwrap_or_default().trim();
    match b.role.as_deref().unwrap_or("member") {
        "member" if person.is_empty() => Ok(TokenRole::Member),
        "member" => Err(ApiError::bad_request("person names an approver; give role \"approver\" with it")),
        "approver" if person.is_empty() => Err(ApiError::bad_request("an approver token needs person: the name of the one person who holds it")),
        "approver" if person.chars().count() > MAX_PERSON_CHARS || person.chars().any(char::is_control) => {
            Err(ApiError::bad_request(format!("person must be at most {MAX_PERSON_CHARS} printable characters")))
        }
        "approver" => Ok(TokenRole::Approver { person: person.to_string() }),
        other => Err(ApiError::bad_request(format!("role {other:?} is unknown; use member or approver"))),
    }
}

async fn create_token(
    State(st): S,
    _: Admin,
    Path(id): Path<String>,
    Body(b): Body<TokenBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = token_role(&b)?;
    require(&st, &id).await?;
    let label = b.label.unwrap_or_default();
    let (wid, l, r) = (id.clone(), label.clone(), role.clone());
    let token = st.store.create_token(wid, l, r).await?;
    let (role, person) = role.columns();
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "workspace_id": id, "label": label, "role": role, "person": person, "created_at": crate::protocol::now_ts()})),
    ))
}

/// Revoking a token also closes the sockets that authenticated with it (4001).
async fn revoke_token(State(st): S, _: Admin, Path((id, token)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let hashes = st.store.revoke_token(id, token).await?;
    if hashes.is_empty() {
        return Err(ApiError::not_found("Token not found"));
    }
    st.live_tokens.revoke(&hashes);
    Ok(ok())
}
