//! HTTP on the dashboard port: REST API, observer socket, media, health and metrics.
//! Reads need a valid token (admin or workspace); writes need the admin token. Tokens come
//! from `Authorization: Bearer` or `?token=`.

mod agents_ext;
mod api;
mod dashboard;
mod library;
mod media;
mod names;
mod origin;
mod permissions;
mod push;
mod todos;
mod workspaces;

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::hub::HubState;
use crate::hub::state::auth::{self, Principal};
use crate::hub::state::names::NameError;
use crate::hub::store::StoreError;

pub fn router(state: Arc<HubState>) -> Router {
    let app = api::routes().merge(workspaces::routes()).merge(library::routes()).merge(push::routes()).merge(media::routes(&state.config));
    let app = app.merge(dashboard::routes()).merge(todos::routes());
    let app = app.merge(agents_ext::routes()).merge(names::routes()).merge(crate::hub::socket::agent::routes());
    let app = app.merge(permissions::routes());
    let app = match cors(&state.config.cors_origins) {
        Some(layer) => app.layer(layer),
        None => app,
    };
    app.with_state(state)
}

/// Exact origins only; preflight answered for the methods the API uses.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(86_400)),
    )
}

/// A JSON error `{"error": "..."}` with a status.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

/// 503: the database failed or cannot be reached (a served one may be down); the request may
/// be retried. The cause is logged, not shown.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure in a request");
        ApiError(StatusCode::SERVICE_UNAVAILABLE, "store unavailable (STORE_UNAVAILABLE): try again".into())
    }
}

/// A refused name: 409 when another workspace holds it (or the quota is full), else 400.
impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        match e {
            NameError::Taken(_) | NameError::Full(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
            NameError::Store(e) => e.into(),
            NameError::Malformed(_) | NameError::Reserved(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn presented_token(parts: &Parts) -> String {
    auth::presented_token(&parts.headers, parts.uri.query())
}

/// Any valid token: admin or workspace.
pub struct Caller(pub Principal);

/// The admin token.
pub struct Admin;

fn unauthorized() -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "Unauthorized".into())
}

impl FromRequestParts<Arc<HubState>> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<HubState>) -> Result<Self, ApiError> {
        let token = presented_token(parts);
        auth::verify(&state.store, &state.admin_token, &token).await?.map(Caller).ok_or_else(unauthorized)
    }
}

impl FromRequestParts<Arc<HubState>> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &Arc<HubState>) -> Result<Self, ApiError> {
        if auth::admin_matches(&state.admin_token, &presented_token(parts)) { Ok(Admin) } else { Err(unauthorized()) }
    }
}

/// `Json<T>` whose rejections are JSON errors with a clear message.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(JsonRejection::BytesRejection(e)) => Err(ApiError(e.status(), format!("cannot read body: {}", e.body_text()))),
            Err(e) => Err(ApiError(e.status(), e.body_text())),
        }
    }
}

/// Parses an optional integer query parameter; a bad value is a 400, not a 500.
pub fn int_param(q: &std::collections::HashMap<String, String>, key: &str) -> ApiResult<Option<i64>> {
    q.get(key)
        .map(|v| v.trim().parse::<i64>().map_err(|_| ApiError::bad_request(format!("{key} must be an integer"))))
        .transpose()
}
