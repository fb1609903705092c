//! Name claims: `GET /api/names` lists them (the admin all, a workspace token its own),
//! `GET /api/names/check/{name}` says whether the caller may use a name (the dashboard's
//! Settings asks it, so the rules live only here) and `DELETE /api/names/{name}` (admin)
//! frees one for any workspace to claim.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, Caller};
use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::state::names::{self, Claim, NameError, is_admin_name};

type S = State<Arc<HubState>>;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/names", get(list))
        .route("/api/names/check/{name}", get(check))
        .route("/api/names/{name}", delete(release))
}

async fn list(State(st): S, Caller(who): Caller) -> ApiResult<Json<Vec<Claim>>> {
    let only = (who != Principal::Admin).then(|| who.workspace_id());
    Ok(Json(st.names.list(only).await?))
}

/// 200 when the caller may send as `name` (`held`: whether its workspace holds it already);
/// 400 for a malformed or reserved name, 409 for one another workspace holds. Claims nothing.
async fn check(State(st): S, Caller(who): Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    names::check(&name)?;
    match st.names.holder(&name) {
        Some(w) if w != who.workspace_id() => Err(NameError::Taken(name).into()),
        held => Ok(Json(json!({"name": name, "ok": true, "held": held.is_some()}))),
    }
}

/// A live socket registered under the name keeps it until it disconnects or another
/// workspace registers the name (which then replaces it, 4000).
async fn release(State(st): S, _: Admin, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    if is_admin_name(&name) {
        return Err(ApiError::bad_request(format!("{name:?} always belongs to the admin")));
    }
    if !st.names.release(&name).await? {
        return Err(ApiError::not_found(format!("nobody holds {name:?}")));
    }
    Ok(Json(json!({"status": "released", "name": name})))
}
