//! The TODO list over REST. Every task belongs to the workspace whose token created it: a
//! workspace token reads and changes only its own, the admin all. Every change is also sent to
//! observers as `{"type":"todo_update","payload":{"event","todo"}}` so dashboards refresh
//! without polling.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Body, Caller};
use crate::hub::HubState;
use crate::hub::state::auth::Principal;
use crate::hub::features::todos::{self, Claim, Filter, NewTodo, Todo, TodoPatch};
use crate::protocol::{Frame, Kind};

type S = State<Arc<HubState>>;

pub fn routes() -> Router<Arc<HubState>> {
    Router::new()
        .route("/api/todos", get(list).post(create))
        .route("/api/todos/{id}", get(show).patch(update).delete(remove))
        .route("/api/todos/{id}/claim", post(claim))
        .route("/api/todos/{id}/close", post(close))
}

/// [`Body`] with every malformed-input rejection (wrong type, missing field, unknown field,
/// no JSON content type) answered as 400.
struct Input<T>(T);

impl<T: DeserializeOwned, St: Send + Sync> FromRequest<St> for Input<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &St) -> Result<Self, ApiError> {
        match Body::<T>::from_request(req, state).await {
            Ok(Body(v)) => Ok(Input(v)),
            Err(ApiError(s, m)) if s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Err(ApiError::bad_request(m))
            }
            Err(e) => Err(e),
        }
    }
}

fn bad(msg: String) -> ApiError {
    ApiError::bad_request(msg)
}

fn todo_id(raw: &str) -> ApiResult<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::bad_request("the task id must be a positive integer"))
}

fn missing(id: i64) -> ApiError {
    ApiError::not_found(format!("no task {id}"))
}

/// The task if `who` may see it; another workspace's task is "not found".
async fn visible(st: &HubState, who: &Principal, id: i64) -> ApiResult<Todo> {
    let todo = st.store.todo(id).await?;
    todo.filter(|t| *who == Principal::Admin || t.workspace_id == who.workspace_id()).ok_or_else(|| missing(id))
}

fn announce(st: &HubState, event: &str, todo: &Todo) {
    let frame = Frame::server(Kind::TodoUpdate, json!({"event": event, "todo": todo}));
    st.registry.to_observers(&frame, &st.metrics);
}

/// A comma-separated list of allowed values, each checked.
fn values(q: &HashMap<String, String>, key: &str, check: fn(&str) -> Result<String, String>) -> ApiResult<Vec<String>> {
    let Some(raw) = q.get(key) else { return Ok(Vec::new()) };
    raw.split(',').filter(|v| !v.trim().is_empty()).map(|v| check(v).map_err(bad)).collect()
}

/// `?status=open,claimed&priority=high&assignee=NAME`
async fn list(State(st): S, Caller(who): Caller, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<Vec<Todo>>> {
    let filter = Filter {
        statuses: values(&q, "status", todos::status)?,
        priorities: values(&q, "priority", todos::priority)?,
        assignee: q.get("assignee").map(|a| todos::name(a, "assignee")).transpose().map_err(bad)?,
        workspace: (who != Principal::Admin).then(|| who.workspace_id().to_string()),
    };
    Ok(Json(st.store.todos(filter).await?))
}

async fn show(State(st): S, Caller(who): Caller, Path(id): Path<String>) -> ApiResult<Json<Todo>> {
    Ok(Json(visible(&st, &who, todo_id(&id)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: Option<String>,
    body: Option<String>,
    priority: Option<String>,
    assignee: Option<String>,
    created_by: Option<String>,
}

async fn create(State(st): S, Caller(who): Caller, Input(b): Input<CreateBody>) -> ApiResult<(StatusCode, Json<Todo>)> {
    let new = NewTodo {
        title: todos::title(b.title.as_deref().unwrap_or_default()).map_err(bad)?,
        body: todos::body(b.body.as_deref().unwrap_or_default()).map_err(bad)?,
        priority: todos::priority(b.priority.as_deref().unwrap_or("medium")).map_err(bad)?,
        assignee: todos::name(b.assignee.as_deref().unwrap_or_default(), "assignee").map_err(bad)?,
        created_by: todos::name(b.created_by.as_deref().unwrap_or_default(), "created_by").map_err(bad)?,
        workspace_id: who.workspace_id().to_string(),
    };
    let todo = st.store.create_todo(new).await?;
    announce(&st, "created", &todo);
    Ok((StatusCode::CREATED, Json(todo)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    title: Option<String>,
    body: Option<String>,
    priority: Option<String>,
    status: Option<String>,
    assignee: Option<String>,
}

async fn update(State(st): S, Caller(who): Caller, Path(id): Path<String>, Input(b): Input<PatchBody>) -> ApiResult<Json<Todo>> {
    let id = todo_id(&id)?;
    visible(&st, &who, id).await?;
    let patch = TodoPatch {
        title: b.title.as_deref().map(todos::title).transpose().map_err(bad)?,
        body: b.body.as_deref().map(todos::body).transpose().map_err(bad)?,
        priority: b.priority.as_deref().map(todos::priority).transpose().map_err(bad)?,
        status: b.status.as_deref().map(todos::status).transpose().map_err(bad)?,
        assignee: b.assignee.as_deref().map(|a| todos::name(a, "assignee")).transpose().map_err(bad)?,
    };
    let todo = st.store.update_todo(id, patch).await?.map_err(bad)?.ok_or_else(|| missing(id))?;
    announce(&st, "updated", &todo);
    Ok(Json(todo))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    assignee: Option<String>,
}

/// Claims an open task: 409 when it is done or already claimed by someone else.
async fn claim(State(st): S, Caller(who): Caller, Path(id): Path<String>, Input(b): Input<ClaimBody>) -> ApiResult<Json<Todo>> {
    let id = todo_id(&id)?;
    visible(&st, &who, id).await?;
    let who = todos::name(b.assignee.as_deref().unwrap_or_default(), "assignee").map_err(bad)?;
    if who.is_empty() {
        return Err(ApiError::bad_request("assignee is required"));
    }
    match st.store.claim_todo(id, who).await? {
        Claim::Claimed(todo) => {
            announce(&st, "claimed", &todo);
            Ok(Json(todo))
        }
        Claim::NotFound => Err(missing(id)),
        Claim::Refused(t) if t.status == "done" => Err(ApiError(StatusCode::CONFLICT, format!("task {id} is done"))),
        Claim::Refused(t) => Err(ApiError(StatusCode::CONFLICT, format!("task {id} is claimed by {}", t.assignee))),
    }
}

async fn close(State(st): S, Caller(who): Caller, Path(id): Path<String>) -> ApiResult<Json<Todo>> {
    let id = todo_id(&id)?;
    visible(&st, &who, id).await?;
    let todo = st.store.close_todo(id).await?.ok_or_else(|| missing(id))?;
    announce(&st, "closed", &todo);
    Ok(Json(todo))
}

async fn remove(State(st): S, Caller(who): Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = todo_id(&id)?;
    visible(&st, &who, id).await?;
    if !st.store.delete_todo(id).await? {
        return Err(missing(id));
    }
    let frame = Frame::server(Kind::TodoUpdate, json!({"event": "deleted", "todo": {"id": id}}));
    st.registry.to_observers(&frame, &st.metrics);
    Ok(Json(json!({"ok": true})))
}
