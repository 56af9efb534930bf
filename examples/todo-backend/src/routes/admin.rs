//! `/admin/chaos`: read and set fault injection, behind `CHAOS_ADMIN_TOKEN`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::bearer;
use crate::chaos::{ChaosSettings, ChaosState};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;

/// `PUT /admin/chaos` body: the faults, and the route template they apply to (all routes when
/// absent).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetChaos {
    #[serde(default)]
    route: Option<String>,
    #[serde(flatten)]
    settings: ChaosSettings,
}

/// Admin requests carry the chaos token; without a configured token the endpoint is absent.
#[derive(Debug)]
pub struct Admin;

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.chaos_token.as_deref().ok_or(ApiError::NotFound)?;
        let given = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let same = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

/// The current faults.
pub async fn get(State(state): State<AppState>, _admin: Admin) -> Json<ChaosState> {
    Json(state.chaos.snapshot())
}

/// Sets faults globally or for one route.
pub async fn put(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(body): ApiJson<SetChaos>,
) -> Result<Json<Value>, ApiError> {
    body.settings.validate()?;
    tracing::warn!(
        route = body.route.as_deref().unwrap_or("*"),
        error_rate = body.settings.error_rate,
        latency_ms = body.settings.latency_ms,
        slow_query_ms = body.settings.slow_query_ms,
        "fault injection changed"
    );
    state.chaos.set(body.route, body.settings);
    Ok(Json(json!(state.chaos.snapshot())))
}

/// Clears every fault.
pub async fn delete(State(state): State<AppState>, _admin: Admin) -> StatusCode {
    state.chaos.reset();
    tracing::warn!("fault injection cleared");
    StatusCode::NO_CONTENT
}
