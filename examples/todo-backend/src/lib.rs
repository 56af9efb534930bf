//! The obs reference service: a todo API with accounts, sessions, rate limits, live updates
//! over websockets, business metrics and fault injection, instrumented with obs-core, obs-axum,
//! obs-sqlx and obs-redis. See the README for running it alone, on PostgreSQL and Redis, or in
//! the full compose stack.

pub mod auth;
pub mod business;
pub mod chaos;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod hashing;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod state;
pub mod store;
pub mod tickets;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use obs_axum::{MetricsRoute, ObsLayer, TrustedProxies};
use obs_core::{Metrics, Telemetry};
use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;

use crate::auth::Sessions;
use crate::business::BusinessMetrics;
use crate::chaos::Chaos;
use crate::config::Config;
use crate::db::Db;
use crate::events::Events;
use crate::hashing::HashGate;
use crate::rate_limit::{RateLimiter, Rule};
use crate::state::{AppState, Rules};
use crate::tickets::Tickets;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// Redis.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Instrumenting Redis.
    #[error("instrumenting redis: {0}")]
    ObsRedis(#[from] obs_redis::Error),
    /// Registering business metrics.
    #[error("registering metrics: {0}")]
    Metrics(#[from] obs_core::prometheus::Error),
    /// Instrumenting HTTP.
    #[error("instrumenting http: {0}")]
    Obs(#[from] obs_core::Error),
}

/// The assembled service: its router, its state, and its background tasks (stopped on drop).
#[derive(Debug)]
pub struct App {
    /// Every route, instrumented.
    pub router: Router,
    /// The shared state.
    pub state: AppState,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Connects the database and Redis, registers metrics and builds the router.
///
/// # Errors
/// When a dependency cannot be reached or a metric name is taken.
pub async fn build(config: &Config, telemetry: &Telemetry) -> Result<App, StartError> {
    let metrics = telemetry.metrics();
    let db = Db::connect(config, metrics).await?;
    let redis = match &config.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str())?;
            let manager = ConnectionManager::new(client.clone()).await?;
            let conn = InstrumentedConnection::builder(manager, metrics)
                .connection_info(client.get_connection_info())
                .build()?;
            Some((conn, client))
        }
        None => None,
    };
    let sessions = match &redis {
        Some((conn, _)) => Sessions::Redis {
            conn: conn.clone(),
            ttl: config.session_ttl,
            db: db.clone(),
        },
        None => Sessions::Sql {
            db: db.clone(),
            ttl: config.session_ttl,
        },
    };
    let limiter = match &redis {
        Some((conn, _)) => RateLimiter::Redis(conn.clone()),
        None => RateLimiter::local(),
    };
    let tickets = match &redis {
        Some((conn, _)) => Tickets::Redis(conn.clone()),
        None => Tickets::local(),
    };
    let limits = &config.limits;
    let rules = Rules {
        login_per_client: Rule {
            name: "login-ip",
            limit: limits.logins_per_client,
            window: Duration::from_secs(60),
        },
        login_per_account: Rule {
            name: "login-account",
            limit: LOGINS_PER_ACCOUNT,
            window: Duration::from_secs(60),
        },
        signup_per_client: Rule {
            name: "signup-ip",
            limit: limits.signups_per_client,
            window: Duration::from_secs(3600),
        },
        ws_ticket_per_user: Rule {
            name: "ws-ticket",
            limit: WS_TICKETS_PER_USER,
            window: Duration::from_secs(60),
        },
    };
    let hashing = HashGate::new(limits.password_hash_memory_mib, limits.password_hash_wait);
    let events = match &redis {
        Some((conn, client)) => Events::redis(conn.clone(), client.clone()),
        None => Events::local(),
    };
    let state = AppState {
        db,
        redis: redis.map(|(conn, _)| conn),
        sessions: Arc::new(sessions),
        limiter: Arc::new(limiter),
        rules: Arc::new(rules),
        hashing,
        trusted_proxies: Arc::new(limits.trusted_proxies.clone()),
        tickets: Arc::new(tickets),
        events,
        business: BusinessMetrics::register(metrics.registry())?,
        chaos: Arc::new(Chaos::new(config.chaos)),
        chaos_token: config.chaos_token.as_deref().map(Arc::from),
    };
    if let Err(error) = business::refresh(&state).await {
        tracing::warn!(%error, "first business metrics refresh failed");
    }
    let tasks = vec![tokio::spawn(business::refresh_loop(
        state.clone(),
        config.business_metrics_interval,
    ))];
    let rum_otlp = rum_otlp_endpoint();
    let router = router(
        state.clone(),
        metrics,
        !config.instrumentation_off,
        rum_otlp.as_deref(),
    )?;
    tracing::info!(
        database = state.db.system(),
        redis = state.redis.is_some(),
        trusted_proxies = %limits.trusted_proxies,
        password_hashes_at_once = state.hashing.concurrency(),
        fault_injection = state.chaos_token.is_some(),
        "todo-backend assembled"
    );
    Ok(App {
        router,
        state,
        tasks,
    })
}

/// Login attempts per account per minute.
pub const LOGINS_PER_ACCOUNT: u64 = 10;

/// Websocket tickets a user may ask for per minute.
pub const WS_TICKETS_PER_USER: u64 = 60;

/// `RUM_OTLP_ENDPOINT`: where the RUM receiver forwards browser spans (OTLP/HTTP JSON).
pub const RUM_OTLP_ENDPOINT: &str = "RUM_OTLP_ENDPOINT";

/// Where browser spans are forwarded: `RUM_OTLP_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`
/// when the service's own spans go over HTTP too (`OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`).
/// The forwarder posts OTLP/JSON to `<endpoint>/v1/traces`, which a gRPC port does not
/// answer, so with a gRPC exporter browser spans are forwarded only to `RUM_OTLP_ENDPOINT`.
pub fn rum_otlp_endpoint() -> Option<String> {
    use obs_core::config::{
        OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    };
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    if let Some(endpoint) = var(RUM_OTLP_ENDPOINT) {
        return Some(endpoint);
    }
    let endpoint = var(OTEL_EXPORTER_OTLP_ENDPOINT)?;
    let protocol =
        var(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL).or_else(|| var(OTEL_EXPORTER_OTLP_PROTOCOL));
    if protocol.as_deref() == Some("http/protobuf") {
        Some(endpoint)
    } else {
        tracing::info!(
            "browser spans are not forwarded: the OTLP exporter uses gRPC; set {RUM_OTLP_ENDPOINT} to the collector's OTLP/HTTP address"
        );
        None
    }
}

/// Every route; with `instrument` the obs layer wraps them all (`/metrics` and `/health` are
/// served but not measured). With `rum_otlp_endpoint` the RUM receiver forwards browser spans
/// there (see [`rum_otlp_endpoint`]).
pub fn router(
    state: AppState,
    metrics: &Metrics,
    instrument: bool,
    rum_otlp_endpoint: Option<&str>,
) -> Result<Router, obs_core::Error> {
    use routes::{admin, auth, health, page, todos, ws};
    // Spans' `client.address` follows the same rule as the rate limits.
    let trusted_proxies = state.trusted_proxies.clone();
    let app = Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::app_js))
        .route("/vendor/{file}", get(page::vendor))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/api/auth/signup", post(auth::signup))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::me))
        .route("/api/todos", get(todos::list).post(todos::create))
        .route(
            "/api/todos/{id}",
            get(todos::get).patch(todos::update).delete(todos::delete),
        )
        .route("/api/ws", get(ws::upgrade))
        .route("/api/ws/ticket", post(ws::ticket))
        .route(
            "/admin/chaos",
            get(admin::get).put(admin::put).delete(admin::delete),
        )
        .layer(from_fn_with_state(state.clone(), chaos::inject))
        .with_state(state);
    let app = if instrument {
        app.layer(
            ObsLayer::from_metrics(metrics)?
                .skip_paths(["/health"])
                .trusted_proxies(TrustedProxies::clone(&trusted_proxies)),
        )
    } else {
        app
    };
    let mut rum = obs_axum::rum::RumReceiver::from_metrics(metrics)?
        .app_names(["todo-frontend"])
        .page_routes(["/"])
        .event_names(["todo_created", "todo_completed", "signup", "login"])
        .trusted_proxies(TrustedProxies::clone(&trusted_proxies));
    if let Some(endpoint) = rum_otlp_endpoint {
        rum = rum.otlp_forwarding(endpoint);
    }
    // The metrics router last: its fallback becomes the app's and records unmatched requests.
    Ok(app
        .merge(rum.into_router())
        .merge(MetricsRoute::new(metrics).into_router()))
}
