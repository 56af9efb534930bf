//! What every handler can reach.

use std::sync::Arc;

use obs_axum::TrustedProxies;
use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;

use crate::auth::Sessions;
use crate::business::BusinessMetrics;
use crate::chaos::Chaos;
use crate::db::Db;
use crate::events::Events;
use crate::hashing::HashGate;
use crate::rate_limit::{RateLimiter, Rule};
use crate::tickets::Tickets;

/// Shared application state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<InstrumentedConnection<ConnectionManager>>,
    /// Session store.
    pub sessions: Arc<Sessions>,
    /// Login and signup rate limits.
    pub limiter: Arc<RateLimiter>,
    /// The rate limit rules.
    pub rules: Arc<Rules>,
    /// Bounds concurrent password hashing.
    pub hashing: HashGate,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Websocket tickets.
    pub tickets: Arc<Tickets>,
    /// Live todo changes.
    pub events: Events,
    /// Business metrics.
    pub business: BusinessMetrics,
    /// Fault injection.
    pub chaos: Arc<Chaos>,
    /// `CHAOS_ADMIN_TOKEN`.
    pub chaos_token: Option<Arc<str>>,
}

/// The rate limits the handlers apply.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Login attempts per client address.
    pub login_per_client: Rule,
    /// Login attempts per account.
    pub login_per_account: Rule,
    /// Signups per client address.
    pub signup_per_client: Rule,
    /// Websocket tickets per user.
    pub ws_ticket_per_user: Rule,
}
