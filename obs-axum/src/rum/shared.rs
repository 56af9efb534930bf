//! [`Shared`]: what every request of one receiver reads, built once by
//! [`RumReceiver::into_router`](super::RumReceiver::into_router) and handed to the handlers
//! as axum state.

use std::collections::HashSet;
use std::sync::Arc;

use obs_core::RumMetrics;
use tokio::sync::Semaphore;

use super::forward::Forwarder;
use super::idempotency::SeenKeys;
use super::limits::BatchLimits;
use super::page_route::PageRoutes;
use super::rate_limit::{ClientLimiter, RateLimiter};
use super::redact::Redactions;
use super::source_map::SourceMaps;
use crate::TrustedProxies;

/// What every request of one receiver shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) metrics: Option<RumMetrics>,
    pub(crate) api_key: Option<Arc<[u8]>>,
    pub(crate) max_body_bytes: usize,
    pub(crate) per_app_rate_limit: bool,
    pub(crate) limiter: RateLimiter,
    pub(crate) client_limiter: ClientLimiter,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) limits: BatchLimits,
    pub(crate) redactions: Redactions,
    pub(crate) any_origin: bool,
    pub(crate) allowed_origins: HashSet<String>,
    pub(crate) app_names: HashSet<String>,
    pub(crate) event_names: HashSet<String>,
    pub(crate) page_routes: PageRoutes,
    pub(crate) batches_seen: SeenKeys,
    pub(crate) vitals_seen: SeenKeys,
    pub(crate) forwarder: Option<Forwarder>,
    pub(crate) source_maps: SourceMaps,
}

impl Shared {
    pub(crate) fn origin_allowed(&self, origin: &str) -> bool {
        self.any_origin || self.allowed_origins.contains(origin)
    }
}
