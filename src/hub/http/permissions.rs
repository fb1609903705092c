//! Permission requests over REST, and their live updates for approvers' dashboards.
//!
//! - `GET /api/permissions`: pending requests, newest first (`?all` adds answered and expired
//!   ones with their audit; `?agent=NAME` one agent's).
//! - `POST /api/permissions/{id}` `{"behavior": "allow"|"deny"}`: answers.
//! - `GET /ws/permissions`: a WebSocket of `permission_update` frames.
//!
//! All three need the admin token or an approver token; any other valid token gets 403, none
//! 401. An approver sees and answers only its workspace's requests (another's are 404).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::{ApiError, ApiResult, Body, int_param, presented_token};
use crate::hub::HubState;
use crate::hub::state::auth;
use crate::hub::socket::conn::close_code;
use crate::hub::socket::listener::ClientAddr;
use crate::hub::features::permissions::{AnswerError, Answerer, Behavior, LIST_LIMIT, view};
use crate::hub::store::permissions::Filter;
use crate::protocol::{Frame, Kind};

type S = State<Arc<HubState>>;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/permissions", get(list))
        .route("/api/permissions/{id}", post(answer))
        .route("/ws/permissions", get(watch))
}

/// The admin token or an approver token.
struct Approver(Answerer);

impl FromRequestParts<Arc<HubState>> for Approver {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, st: &Arc<HubState>) -> Result<Self, ApiError> {
        let token = presented_token(parts);
        if let Some(who) = Answerer::of_token(st, &token).await? {
            return Ok(Approver(who));
        }
        match auth::verify(&st.store, &st.admin_token, &token).await? {
            Some(_) => Err(ApiError(
                StatusCode::FORBIDDEN,
                "only the admin token or an approver token may see and answer permission requests".into(),
            )),
            None => Err(ApiError(StatusCode::UNAUTHORIZED, "Unauthorized".into())),
        }
    }
}

async fn list(State(st): S, Approver(who): Approver, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Vec<Value>>> {
    let limit = int_param(&q, "limit")?.unwrap_or(LIST_LIMIT).clamp(1, LIST_LIMIT);
    let agent = q.get("agent").map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    let filter = Filter { workspaces: who.scopes(), all: q.contains_key("all"), agent, limit };
    let rows = st.store.permissions(filter).await?;
    Ok(Json(rows.iter().map(view).collect()))
}

#[derive(Deserialize)]
struct AnswerBody {
    behavior: Option<String>,
}

async fn answer(
    State(st): S,
    Approver(who): Approver,
    Extension(ClientAddr(from)): Extension<ClientAddr>,
    Path(id): Path<String>,
    Body(b): Body<AnswerBody>,
) -> ApiResult<Json<Value>> {
    let Some(behavior) = b.behavior.as_deref().and_then(Behavior::parse) else {
        return Err(ApiError::bad_request("behavior must be \"allow\" or \"deny\""));
    };
    match st.answer_permission(&id, behavior, &who, Some(from), "rest").await {
        Ok(r) => Ok(Json(view(&r))),
        Err(e) => Err(match e {
            AnswerError::NotFound(_) => ApiError::not_found(e.to_string()),
            AnswerError::OwnToken => ApiError(StatusCode::FORBIDDEN, e.to_string()),
            AnswerError::Answered { .. } => ApiError(StatusCode::CONFLICT, e.to_string()),
            AnswerError::Expired(_) => ApiError(StatusCode::GONE, e.to_string()),
            AnswerError::Store(s) => s.into(),
        }),
    }
}

/// A browser page from a foreign origin is refused (403) before the token is looked at, as on
/// the observer socket.
async fn watch(State(st): S, headers: axum::http::HeaderMap, who: Result<Approver, ApiError>, ws: WebSocketUpgrade) -> Response {
    if !super::origin::admitted(&st.config.cors_origins, &headers) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "permissions socket refused: foreign origin");
        return (StatusCode::FORBIDDEN, "Forbidden: origin not allowed").into_response();
    }
    match who {
        Ok(Approver(who)) => ws.on_upgrade(move |socket| updates(st, socket, who)),
        Err(e) => e.into_response(),
    }
}

/// Forwards the updates `who` may see until the socket or the hub goes away. An approver
/// whose token was revoked is closed (4001) at the next update.
async fn updates(st: Arc<HubState>, mut socket: WebSocket, who: Answerer) {
    let mut rx = st.permissions.watch();
    let mut stopping = st.shutdown.clone();
    loop {
        tokio::select! {
            update = rx.recv() => match update {
                Ok(u) if who.sees(&u.workspace_id) => {
                    if let Answerer::Approver { token_hash, .. } = &who
                        && !matches!(Answerer::of_hash(&st, token_hash.clone()).await, Ok(Some(_)))
                    {
                        let close = CloseFrame { code: close_code::AUTH_FAILED, reason: "token revoked".into() };
                        let _ = socket.send(Message::Close(Some(close))).await;
                        return;
                    }
                    if socket.send(Message::Text(u.text.clone().into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // Too slow: the dashboard reloads the list when told.
                Err(RecvError::Lagged(_)) => {
                    let frame = Frame::server(Kind::PermissionUpdate, serde_json::json!({"event": "reload"}));
                    if socket.send(Message::Text(frame.to_json().into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = async { drop(stopping.wait_for(|s| *s).await) } => {
                let close = CloseFrame { code: close_code::RESTART, reason: crate::hub::RESTART_REASON.into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                return;
            }
        }
    }
}
