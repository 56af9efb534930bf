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
use obs_axum::rum::RumReceiver;
use obs_axum::{ObsLayer, TrustedProxies, metrics_router};
use obs_core::Telemetry;
use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;
use tokio::task::JoinHandle;

use crate::auth::Sessions;
use crate::business::BusinessMetrics;
use crate::chaos::Chaos;
use crate::config::{BrowserSpans, Config};
use crate::db::Db;
use crate::events::Events;
use crate::hashing::HashGate;
use crate::rate_limit::{RateLimiter, Rule};
use crate::state::{AppState, Rules};
use crate::tickets::Tickets;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("instrumenting redis: {0}")]
    ObsRedis(#[from] obs_redis::Error),
    #[error("registering metrics: {0}")]
    Metrics(#[from] obs_core::prometheus::Error),
}

/// The assembled service: its router, its state, and its background tasks (stopped on drop).
#[derive(Debug)]
pub struct App {
    /// Every route, instrumented unless `OBS_DISABLE` is set.
    pub router: Router,
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
        frontend_dir: Arc::from(config.frontend.dir.as_path()),
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
    if config.frontend.spans == BrowserSpans::NotForwardedOverGrpc {
        tracing::info!(
            "browser spans are not forwarded: the OTLP exporter uses gRPC; set {} to the collector's OTLP/HTTP address",
            config::RUM_OTLP_ENDPOINT
        );
    }
    let router = router(state.clone(), telemetry, config);
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

/// Every route, behind the obs layer unless [`Config::instrumentation_off`] (`/metrics` and
/// `/health` are served but not measured), with the RUM receiver forwarding browser spans as
/// [`Frontend::spans`](config::Frontend::spans) says.
pub fn router(state: AppState, telemetry: &Telemetry, config: &Config) -> Router {
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
    let app = if config.instrumentation_off {
        app
    } else {
        app.layer(
            ObsLayer::new(telemetry)
                .skip_paths(["/health"])
                .trusted_proxies(TrustedProxies::clone(&trusted_proxies)),
        )
    };
    let mut rum = RumReceiver::new(telemetry)
        .app_names(["todo-frontend"])
        .page_routes(["/"])
        .event_names(["todo_created", "todo_completed", "signup", "login"])
        .trusted_proxies(TrustedProxies::clone(&trusted_proxies));
    if let Some(endpoint) = config.frontend.spans.endpoint() {
        rum = rum.otlp_forwarding(endpoint);
    }
    // The metrics router last: its fallback becomes the app's and records unmatched requests.
    app.merge(rum.into_router())
        .merge(metrics_router(telemetry))
}
