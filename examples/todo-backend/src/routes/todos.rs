//! `GET/POST /api/todos`, `GET/PATCH/DELETE /api/todos/{id}`. Users only ever see their own
//! todos: another user's id is a 404, not a 403.

use axum::Json;
use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::CurrentUser;
use crate::business::{PRIORITIES, STATUSES};
use crate::error::{ApiError, ApiJson};
use crate::events::TodoEvent;
use crate::state::AppState;
use crate::store::{self, TodoChange};

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// `GET /api/todos` query.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `POST /api/todos` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTodo {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
}

/// `PATCH /api/todos/{id}` body; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchTodo {
    title: Option<String>,
    description: Option<String>,
    status: Option<String>,
    priority: Option<String>,
}

fn check_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::Validation(
            "title must be 1 to 200 characters".into(),
        ));
    }
    Ok(title.to_owned())
}

fn check_description(description: &str) -> Result<String, ApiError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::Validation(
            "description must be at most 5000 characters".into(),
        ));
    }
    Ok(description.to_owned())
}

fn check_enum(field: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::Validation(format!(
            "{field} must be one of {}",
            allowed.join(", ")
        )))
    }
}

fn parse_id(raw: &str) -> Result<i64, ApiError> {
    // A malformed id names no todo of this user.
    raw.parse::<i64>().map_err(|_| ApiError::NotFound)
}

/// Lists the user's todos, newest first.
pub async fn list(
    State(state): State<AppState>,
    matched: MatchedPath,
    current: CurrentUser,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = query
        .status
        .as_deref()
        .map(|s| check_enum("status", s, &STATUSES))
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Validation("limit must be from 1 to 200".into()));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::Validation("offset must not be negative".into()));
    }
    let slow = state.chaos.for_route(matched.as_str()).slow_query_ms;
    if slow > 0 {
        state.db.slow_query(slow).await?;
    }
    let (items, total) =
        store::list_todos(&state.db, current.user.id, status.as_deref(), limit, offset).await?;
    Ok(Json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

/// Creates a todo.
pub async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    ApiJson(body): ApiJson<NewTodo>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let title = check_title(&body.title)?;
    let description = check_description(&body.description)?;
    let status = check_enum(
        "status",
        body.status.as_deref().unwrap_or("todo"),
        &STATUSES,
    )?;
    let priority = check_enum(
        "priority",
        body.priority.as_deref().unwrap_or("medium"),
        &PRIORITIES,
    )?;
    let todo = store::create_todo(
        &state.db,
        current.user.id,
        &title,
        &description,
        &status,
        &priority,
    )
    .await?;
    state
        .business
        .items_created
        .with_label_values(&[priority.as_str()])
        .inc();
    if todo.status == "done" {
        state.business.items_completed.inc();
    }
    tracing::info!(user_id = current.user.id, todo_id = todo.id, "todo created");
    state
        .events
        .publish(TodoEvent {
            user_id: Some(current.user.id),
            kind: "created".into(),
            id: todo.id,
            todo: Some(todo.clone()),
            session: None,
        })
        .await;
    Ok((StatusCode::CREATED, Json(json!(todo))))
}

/// One todo.
pub async fn get(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let todo = store::todo(&state.db, current.user.id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(json!(todo)))
}

/// Changes fields of a todo; moving it to `done` counts a completion.
pub async fn update(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PatchTodo>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let change = TodoChange {
        title: body.title.as_deref().map(check_title).transpose()?,
        description: body
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        status: body
            .status
            .as_deref()
            .map(|s| check_enum("status", s, &STATUSES))
            .transpose()?,
        priority: body
            .priority
            .as_deref()
            .map(|p| check_enum("priority", p, &PRIORITIES))
            .transpose()?,
    };
    let (old, new) = store::update_todo(&state.db, current.user.id, id, &change)
        .await?
        .ok_or(ApiError::NotFound)?;
    if old.status != "done" && new.status == "done" {
        state.business.items_completed.inc();
        tracing::info!(user_id = current.user.id, todo_id = id, "todo completed");
    } else {
        tracing::info!(user_id = current.user.id, todo_id = id, "todo updated");
    }
    state
        .events
        .publish(TodoEvent {
            user_id: Some(current.user.id),
            kind: "updated".into(),
            id,
            todo: Some(new.clone()),
            session: None,
        })
        .await;
    Ok(Json(json!(new)))
}

/// Deletes a todo.
pub async fn delete(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if !store::delete_todo(&state.db, current.user.id, id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = current.user.id, todo_id = id, "todo deleted");
    state
        .events
        .publish(TodoEvent {
            user_id: Some(current.user.id),
            kind: "deleted".into(),
            id,
            todo: None,
            session: None,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
