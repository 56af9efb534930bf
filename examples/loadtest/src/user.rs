//! One virtual user: signs up (or logs in) once, then loops over me, list, create, complete and
//! delete; the scenario's wait time between transactions is the think time.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use goose::prelude::*;
use serde_json::{Value, json};

use crate::stats::recorder;

const PASSWORD: &str = "loadtest-password-1";

/// A prefix unique to this run, so that emails never collide with an earlier run's.
static RUN_ID: OnceLock<String> = OnceLock::new();
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Sets the run's id (once; later calls are ignored).
pub fn set_run_id(id: String) {
    let _ = RUN_ID.set(id);
}

#[derive(Clone)]
struct Session {
    token: String,
    todo: Option<i64>,
}

/// What one request answered.
struct Answer {
    status: u16,
    body: Option<Value>,
}

/// Sends `method path` as `endpoint`, with the user's token and a JSON body when given, and
/// records the outcome. The latency includes reading the body.
async fn call(
    user: &mut GooseUser,
    endpoint: &'static str,
    method: GooseMethod,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, Box<TransactionError>> {
    let mut builder = user.get_request_builder(&method, path)?;
    if let Some(session) = user.get_session_data::<Session>() {
        builder = builder.bearer_auth(&session.token);
    }
    if let Some(body) = body {
        builder = builder.json(body);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(endpoint)
        .set_request_builder(builder)
        .build();
    let started = Instant::now();
    let goose = user.request(request).await?;
    let (status, body) = match goose.response {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.text().await {
                Ok(text) => (status, serde_json::from_str(&text).ok()),
                // The body broke off: the user saw no answer.
                Err(_) => (0, None),
            }
        }
        Err(_) => (0, None),
    };
    recorder().record(endpoint, status, started.elapsed());
    Ok(Answer { status, body })
}

/// Signs up with a fresh address, or logs in when it exists; keeps the token.
pub async fn sign_in(user: &mut GooseUser) -> TransactionResult {
    let run = RUN_ID.get().map_or("run", String::as_str);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let email = format!("lt-{run}-{n}@loadtest.example");
    let signup = json!({"email": email, "password": PASSWORD, "name": format!("Load {n}")});
    let mut answer = call(
        user,
        "signup",
        GooseMethod::Post,
        "/api/auth/signup",
        Some(&signup),
    )
    .await?;
    if answer.status == 409 {
        let login = json!({"email": email, "password": PASSWORD});
        answer = call(
            user,
            "login",
            GooseMethod::Post,
            "/api/auth/login",
            Some(&login),
        )
        .await?;
    }
    let token = answer
        .body
        .as_ref()
        .and_then(|b| b.get("token"))
        .and_then(Value::as_str);
    if let Some(token) = token {
        user.set_session_data(Session {
            token: token.to_owned(),
            todo: None,
        });
        recorder().add_users(1);
    }
    Ok(())
}

/// Counts the user out of `loadtest_users`.
pub async fn sign_out(user: &mut GooseUser) -> TransactionResult {
    if user.get_session_data::<Session>().is_some() {
        recorder().add_users(-1);
    }
    Ok(())
}

fn signed_in(user: &GooseUser) -> bool {
    user.get_session_data::<Session>().is_some()
}

/// `GET /api/auth/me`.
pub async fn me(user: &mut GooseUser) -> TransactionResult {
    if signed_in(user) {
        call(user, "me", GooseMethod::Get, "/api/auth/me", None).await?;
    }
    Ok(())
}

/// `GET /api/todos`.
pub async fn list(user: &mut GooseUser) -> TransactionResult {
    if signed_in(user) {
        call(user, "list", GooseMethod::Get, "/api/todos?limit=20", None).await?;
    }
    Ok(())
}

/// `POST /api/todos`; keeps the new id for complete and delete.
pub async fn create(user: &mut GooseUser) -> TransactionResult {
    if !signed_in(user) {
        return Ok(());
    }
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let body = json!({"title": format!("load item {n}"), "priority": "medium"});
    let answer = call(user, "create", GooseMethod::Post, "/api/todos", Some(&body)).await?;
    let id = answer
        .body
        .as_ref()
        .and_then(|b| b.get("id"))
        .and_then(Value::as_i64);
    if let Some(session) = user.get_session_data_mut::<Session>() {
        session.todo = id;
    }
    Ok(())
}

fn current_todo(user: &GooseUser) -> Option<i64> {
    user.get_session_data::<Session>().and_then(|s| s.todo)
}

/// `PATCH /api/todos/{id}` to `done`.
pub async fn complete(user: &mut GooseUser) -> TransactionResult {
    if let Some(id) = current_todo(user) {
        let body = json!({"status": "done"});
        let path = format!("/api/todos/{id}");
        call(user, "complete", GooseMethod::Patch, &path, Some(&body)).await?;
    }
    Ok(())
}

/// `DELETE /api/todos/{id}`.
pub async fn delete(user: &mut GooseUser) -> TransactionResult {
    if let Some(id) = current_todo(user) {
        let path = format!("/api/todos/{id}");
        call(user, "delete", GooseMethod::Delete, &path, None).await?;
        if let Some(session) = user.get_session_data_mut::<Session>() {
            session.todo = None;
        }
    }
    Ok(())
}
