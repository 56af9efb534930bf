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

/// 200 when the database and Redis (if configured) answer, else 503 naming what failed.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let redis = match &state.redis {
        None => "not configured".to_owned(),
        Some(conn) => {
            let mut conn = conn.clone();
            match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            }
        }
    };
    let ok = database == "ok" && (redis == "ok" || state.redis.is_none());
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
