//! What every handler can reach.

use std::path::Path;
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
    pub db: Db,
    pub redis: Option<InstrumentedConnection<ConnectionManager>>,
    pub sessions: Arc<Sessions>,
    /// Login and signup rate limits.
    pub limiter: Arc<RateLimiter>,
    pub rules: Arc<Rules>,
    pub hashing: HashGate,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Where `/vendor/` reads the Faro bundles from ([`Frontend::dir`](crate::config::Frontend::dir)).
    pub frontend_dir: Arc<Path>,
    pub tickets: Arc<Tickets>,
    /// Live todo changes.
    pub events: Events,
    pub business: BusinessMetrics,
    /// Fault injection.
    pub chaos: Arc<Chaos>,
    /// `CHAOS_ADMIN_TOKEN`; without it `/admin/chaos` answers 404.
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
