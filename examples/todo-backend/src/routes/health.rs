//! `GET /health` (the process is alive) and `GET /ready` (its dependencies answer).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::AppState;

/// Always 200 while the process serves requests.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database and Redis (if configured) answer, else 503. Each dependency is
/// `ok`, `unavailable` or (Redis) `not configured`; why one is unavailable goes to the log,
/// never to the (anonymous) client.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = check("database", state.db.ping()).await;
    let redis = match &state.redis {
        None => NOT_CONFIGURED,
        Some(conn) => {
            let mut conn = conn.clone();
            let ping = redis::cmd("PING");
            check("redis", ping.query_async::<String>(&mut conn)).await
        }
    };
    let ok = database == OK && redis != UNAVAILABLE;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else { "unavailable" },
            "database": database,
            "redis": redis,
        })),
    )
}

/// `ok` or `unavailable`; the error goes to the log only.
async fn check<T, E: std::fmt::Display>(
    dependency: &'static str,
    ping: impl Future<Output = Result<T, E>>,
) -> &'static str {
    match tokio::time::timeout(PING_TIMEOUT, ping).await {
        Ok(Ok(_)) => OK,
        Ok(Err(error)) => {
            tracing::warn!(dependency, %error, "readiness: {dependency} unavailable");
            UNAVAILABLE
        }
        Err(_) => {
            tracing::warn!(
                dependency,
                timeout_ms = PING_TIMEOUT.as_millis(),
                "readiness: {dependency} ping timed out"
            );
            UNAVAILABLE
        }
    }
}

/// How long each dependency has to answer.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

const OK: &str = "ok";
const UNAVAILABLE: &str = "unavailable";
const NOT_CONFIGURED: &str = "not configured";
