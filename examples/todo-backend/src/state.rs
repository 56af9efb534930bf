//! What every handler can reach.

use std::sync::Arc;

use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;

use crate::auth::Sessions;
use crate::business::BusinessMetrics;
use crate::chaos::Chaos;
use crate::db::Db;
use crate::events::Events;
use crate::rate_limit::RateLimiter;

/// Shared application state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<InstrumentedConnection<ConnectionManager>>,
    /// Session store.
    pub sessions: Arc<Sessions>,
    /// Login rate limits.
    pub limiter: Arc<RateLimiter>,
    /// Live todo changes.
    pub events: Events,
    /// Business metrics.
    pub business: BusinessMetrics,
    /// Fault injection.
    pub chaos: Arc<Chaos>,
    /// `CHAOS_ADMIN_TOKEN`.
    pub chaos_token: Option<Arc<str>>,
}
