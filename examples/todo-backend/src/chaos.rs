//! Fault injection for alert demos and runbook exercises: real 500s, real delays, real slow
//! queries, globally or per route. Off unless configured.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

/// The faults applied to a route (or to all routes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSettings {
    /// Fraction of requests answered with an injected 500, 0 to 1.
    #[serde(default)]
    pub error_rate: f64,
    /// Added latency per request, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Database time added to list queries, in milliseconds.
    #[serde(default)]
    pub slow_query_ms: u64,
}

impl ChaosSettings {
    fn is_off(&self) -> bool {
        *self == ChaosSettings::default()
    }

    /// Checks the ranges.
    ///
    /// # Errors
    /// A value is out of range.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(ApiError::Validation(
                "error_rate must be from 0 to 1".into(),
            ));
        }
        if self.latency_ms > 60_000 || self.slow_query_ms > 60_000 {
            return Err(ApiError::Validation(
                "latency_ms and slow_query_ms must be at most 60000".into(),
            ));
        }
        Ok(())
    }
}

/// The current faults: global, plus per route template.
#[derive(Debug, Default)]
pub struct Chaos {
    state: RwLock<ChaosState>,
}

/// What `GET /admin/chaos` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChaosState {
    /// Applied to every route without its own entry.
    pub global: ChaosSettings,
    /// Per route template, e.g. `/api/todos`.
    pub routes: BTreeMap<String, ChaosSettings>,
}

impl Chaos {
    /// Starts with `global` faults.
    pub fn new(global: ChaosSettings) -> Self {
        Chaos {
            state: RwLock::new(ChaosState {
                global,
                routes: BTreeMap::new(),
            }),
        }
    }

    /// A copy of the current faults.
    pub fn snapshot(&self) -> ChaosState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets the faults of `route`, or the global ones.
    pub fn set(&self, route: Option<String>, settings: ChaosSettings) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        match route {
            Some(route) if settings.is_off() => {
                state.routes.remove(&route);
            }
            Some(route) => {
                state.routes.insert(route, settings);
            }
            None => state.global = settings,
        }
    }

    /// Clears every fault.
    pub fn reset(&self) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = ChaosState::default();
    }

    /// The faults that apply to `route`.
    pub fn for_route(&self, route: &str) -> ChaosSettings {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.routes.get(route).copied().unwrap_or(state.global)
    }
}

/// Middleware: delays and fails requests as configured. `/admin`, `/health`, `/ready` and
/// `/metrics` are exempt, so the knobs can always be turned back.
pub async fn inject(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.as_ref().map_or("", MatchedPath::as_str);
    if route.starts_with("/admin") || matches!(route, "/health" | "/ready" | "/metrics") {
        return next.run(request).await;
    }
    let faults = state.chaos.for_route(route);
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.error_rate > 0.0 && random_unit() < faults.error_rate {
        tracing::warn!(route, "injecting a fault");
        return ApiError::Chaos.into_response();
    }
    next.run(request).await
}

/// A uniform number in [0, 1).
fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or(u64::MAX);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}
