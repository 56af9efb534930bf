//! [`RumReceiver`]: the configuration, and the router it becomes.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::routing::post;
use obs_core::{Exporters, Metrics, RumMetrics, Telemetry};

use tokio::sync::Semaphore;

use super::forward::Forwarder;
use super::handler;
use super::idempotency::SeenKeys;
use super::limits::BatchLimits;
use super::page_route::PageRoutes;
use super::rate_limit::{ClientLimiter, RateLimiter};
use super::redact::Redactions;
use super::shared::Shared;
use super::source_map::SourceMaps;
use super::{
    CLIENT_CAPACITY, DEDUPE_CAPACITY, DEDUPE_TTL, DEFAULT_BURST, DEFAULT_CLIENT_BURST,
    DEFAULT_CLIENT_RATE, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONCURRENT_BATCHES, DEFAULT_PATH,
    DEFAULT_RATE,
};
use crate::TrustedProxies;

/// A Grafana Faro receiver: configure it, then mount it with [`RumReceiver::into_router`].
///
/// ```
/// use axum::Router;
///
/// # fn main() -> Result<(), obs_core::Error> {
/// let telemetry = obs_core::Telemetry::builder("todo-backend").build()?;
/// let app: Router = Router::new().merge(
///     obs_axum::rum::RumReceiver::new(&telemetry)
///         .app_names(["todo-frontend"])
///         .page_routes(["/", "/todos/{id}"])
///         .event_names(["signup", "login"])
///         .allowed_origins(["https://todo.example"])
///         .into_router(),
/// );
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RumReceiver {
    /// `None` when the families could not be registered: batches are still accepted and
    /// logged.
    metrics: Option<RumMetrics>,
    path: String,
    api_key: Option<Arc<[u8]>>,
    max_body_bytes: usize,
    rate: f64,
    burst: u32,
    client_rate: f64,
    client_burst: u32,
    trusted_proxies: TrustedProxies,
    max_concurrent_batches: usize,
    limits: BatchLimits,
    redactions: Redactions,
    per_app_rate_limit: bool,
    allowed_origins: Vec<String>,
    app_names: Vec<String>,
    page_routes: Vec<String>,
    event_names: Vec<String>,
    otlp_endpoint: Option<String>,
    /// The telemetry's exporter runtime, which forwarded spans are posted from and flushed by.
    exporters: Option<Exporters>,
    source_maps_dir: Option<PathBuf>,
}

impl fmt::Debug for RumReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RumReceiver")
            .field("path", &self.path)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .field("client_rate", &self.client_rate)
            .field("client_burst", &self.client_burst)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_concurrent_batches", &self.max_concurrent_batches)
            .field("limits", &self.limits)
            .field("redactions", &self.redactions)
            .field("per_app_rate_limit", &self.per_app_rate_limit)
            .field("allowed_origins", &self.allowed_origins)
            .field("app_names", &self.app_names)
            .field("page_routes", &self.page_routes)
            .field("event_names", &self.event_names)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("source_maps_dir", &self.source_maps_dir)
            .finish_non_exhaustive()
    }
}

impl RumReceiver {
    /// A receiver recording into the registry of `telemetry`. Browser spans
    /// [forwarded](Self::otlp_forwarding) are posted from the telemetry's exporter runtime,
    /// and [`Telemetry::shutdown`] (or dropping the guard) posts those still queued, within
    /// its shutdown timeout.
    ///
    /// Never fails: if the registry holds a conflicting metric of one of the receiver's
    /// names, the error is logged and the receiver keeps answering, recording only `tracing`
    /// events. [`RumReceiver::from_metrics`] returns the error instead.
    pub fn new(telemetry: &Telemetry) -> Self {
        let metrics = telemetry
            .metrics()
            .rum()
            .inspect_err(|error| {
                tracing::error!(
                    target: "obs_axum::rum",
                    %error,
                    "RUM metrics are off; the receiver still accepts and logs batches"
                );
            })
            .ok();
        let mut receiver = Self::with_metrics(metrics);
        receiver.exporters = Some(telemetry.exporters().clone());
        receiver
    }

    /// A receiver recording into `metrics`.
    ///
    /// Without a [`Telemetry`], browser spans [forwarded](Self::otlp_forwarding) are posted
    /// from a background thread of the receiver's own, which nothing flushes: batches still
    /// queued when the router is dropped are lost. Use [`RumReceiver::new`] to have the
    /// telemetry's shutdown flush them.
    ///
    /// # Errors
    /// When the registry holds a metric of one of the receiver's names that obs did not
    /// create.
    pub fn from_metrics(metrics: &Metrics) -> Result<Self, obs_core::Error> {
        Ok(Self::with_metrics(Some(metrics.rum()?)))
    }

    fn with_metrics(metrics: Option<RumMetrics>) -> Self {
        RumReceiver {
            metrics,
            path: DEFAULT_PATH.to_owned(),
            api_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate: DEFAULT_RATE,
            burst: DEFAULT_BURST,
            client_rate: DEFAULT_CLIENT_RATE,
            client_burst: DEFAULT_CLIENT_BURST,
            trusted_proxies: TrustedProxies::none(),
            max_concurrent_batches: DEFAULT_MAX_CONCURRENT_BATCHES,
            limits: BatchLimits::default(),
            redactions: Redactions::defaults(),
            per_app_rate_limit: false,
            allowed_origins: Vec::new(),
            app_names: Vec::new(),
            page_routes: Vec::new(),
            event_names: Vec::new(),
            otlp_endpoint: None,
            exporters: None,
            source_maps_dir: None,
        }
    }

    /// The path to accept `POST`s (and CORS preflights) on. Defaults to `/faro/collect`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Requires `x-api-key: <key>` (the SDK's `apiKey`); other requests get `401`, before
    /// their body is read and before they take a rate-limit token. Compared in constant time.
    /// Defaults to none: every request is accepted.
    pub fn api_key(mut self, key: impl AsRef<str>) -> Self {
        self.api_key = Some(Arc::from(key.as_ref().as_bytes()));
        self
    }

    /// The largest body accepted, as sent and again after decompression; larger ones get
    /// `413`. Defaults to 5 MiB.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Admits `rate` requests per second on average and bursts of up to `burst`; requests
    /// over the limit get `429` with a `Retry-After` of 1 to 30 seconds. A `rate` of zero
    /// turns the limit off. Defaults to 50 per second, bursts of 100.
    pub fn rate_limit(mut self, rate: f64, burst: u32) -> Self {
        self.rate = rate;
        self.burst = burst;
        self
    }

    /// Admits `rate` requests per second and bursts of `burst` from each client address,
    /// checked before the global limit, so a client flooding the receiver empties its own
    /// bucket and not everyone's. The address is the TCP peer, or what
    /// [`trusted_proxies`](Self::trusted_proxies) vouch for; IPv6 clients are keyed by their
    /// /64. Needs the server started with
    /// [`into_make_service_with_connect_info::<SocketAddr>`](axum::Router::into_make_service_with_connect_info);
    /// without a peer address only the global limit applies. At most 20 000 addresses are
    /// remembered. A `rate` of zero turns it off. Defaults to 5 per second, bursts of 20.
    pub fn client_rate_limit(mut self, rate: f64, burst: u32) -> Self {
        self.client_rate = rate;
        self.client_burst = burst;
        self
    }

    /// The proxies whose `X-Forwarded-For` names the client for the per-client rate limit.
    /// Defaults to none: the TCP peer is the client.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// How many batches are read and processed at once. Decompressing, parsing and
    /// recording run on tokio's blocking pool, never on the async workers; requests beyond
    /// the limit wait up to a second for a slot, then get `503` with `Retry-After: 1`.
    /// Defaults to 4.
    pub fn max_concurrent_batches(mut self, n: usize) -> Self {
        self.max_concurrent_batches = n.max(1);
        self
    }

    /// The per-batch caps: items per kind, frames per exception, keys per map, bytes per
    /// string. Defaults to [`BatchLimits::default`].
    pub fn limits(mut self, limits: BatchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The patterns scrubbed from browser text (log messages, exception values, event and
    /// span attributes, page URLs) before it is logged or forwarded. Defaults to
    /// [`Redactions::defaults`]: emails, bearer tokens, JWTs, secret parameters, card numbers.
    pub fn redactions(mut self, redactions: Redactions) -> Self {
        self.redactions = redactions;
        self
    }

    /// Gives each allow-listed application (and all others together) its own bucket instead
    /// of one bucket for everyone. The application is known only once the body is parsed, so
    /// the check then runs after decompression and parsing. Defaults to `false`.
    pub fn per_app_rate_limit(mut self, per_app: bool) -> Self {
        self.per_app_rate_limit = per_app;
        self
    }

    /// Origins (`https://app.example`) allowed to send from another origin: their CORS
    /// preflights get `204` and their responses the `Access-Control-Allow-*` headers;
    /// preflights from other origins get `403`. `"*"` allows every origin. Defaults to none
    /// (same-origin pages only).
    pub fn allowed_origins<I, T>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.allowed_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// Application names (`meta.app.name`) kept as the `app_name` label; others are
    /// recorded as `other`. Defaults to none.
    pub fn app_names<I, T>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.app_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Route patterns in axum's syntax (`/`, `/todos/{id}`, `/docs/{*path}`) that page URLs
    /// are matched against for the `page_route` label, first match wins; pages that match
    /// none are recorded as `other`. Defaults to none.
    pub fn page_routes<I, T>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.page_routes = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Custom event names kept as the `event_name` label; others are recorded as `other`.
    /// Defaults to none.
    pub fn event_names<I, T>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.event_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Forwards the browser's spans (the batch's `traces`, OTLP/JSON) unchanged to
    /// `<endpoint>/v1/traces` as OTLP/HTTP JSON, so the browser's fetch span and the backend's
    /// server span form one trace. Batches wait in a queue of 64 drained by a background
    /// task (on the exporter runtime of the [`Telemetry`] given to [`RumReceiver::new`]); when
    /// it is full they are dropped and counted. The headers of
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS` (else `OTEL_EXPORTER_OTLP_HEADERS`) go with every
    /// post, as with the backend's own exports; over `https://` the CA certificates of
    /// `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE` are trusted besides the system's and the webpki roots, and the
    /// client certificate of `OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE` and
    /// `..._CLIENT_KEY` is presented to a collector that asks for one (mutual TLS). Defaults
    /// to none: spans are counted and dropped.
    pub fn otlp_forwarding(mut self, endpoint: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(endpoint.into());
        self
    }

    /// A directory of source maps (`app.min.js.map` for `app.min.js`) that exception stack
    /// frames are resolved through, so logged stacks show the original file, line, column
    /// and function. The maps are read once, in [`RumReceiver::into_router`] (at most 256
    /// files of 32 MiB each); frames of scripts without a map stay as they came. Defaults to
    /// none.
    pub fn source_maps_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.source_maps_dir = Some(dir.into());
        self
    }

    /// The router, to [`Router::merge`] into the application's.
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let path = self.path.clone();
        let shared = Arc::new(Shared::new(self));
        Router::new()
            .route(&path, post(handler::collect).options(handler::preflight))
            .with_state(shared)
    }
}

// Built here, where the receiver's settings are in reach, so that `shared` needs nothing from
// this module.
impl Shared {
    fn new(config: RumReceiver) -> Self {
        let metrics = config.metrics;
        let forwarder = config.otlp_endpoint.as_deref().and_then(|endpoint| {
            let exporters = config.exporters.clone().unwrap_or_default();
            Forwarder::start(endpoint, metrics.clone(), exporters)
                .inspect_err(|error| {
                    tracing::error!(
                        target: "obs_axum::rum",
                        %error,
                        "browser spans will not be forwarded"
                    );
                })
                .ok()
        });
        let any_origin = config.allowed_origins.iter().any(|o| o == "*");
        Shared {
            metrics,
            api_key: config.api_key,
            max_body_bytes: config.max_body_bytes,
            per_app_rate_limit: config.per_app_rate_limit,
            limiter: RateLimiter::new(config.rate, config.burst, Instant::now()),
            client_limiter: ClientLimiter::new(
                config.client_rate,
                config.client_burst,
                CLIENT_CAPACITY,
            ),
            trusted_proxies: config.trusted_proxies,
            permits: Arc::new(Semaphore::new(config.max_concurrent_batches)),
            limits: config.limits,
            redactions: config.redactions,
            any_origin,
            allowed_origins: config.allowed_origins.into_iter().collect(),
            app_names: config.app_names.into_iter().collect(),
            event_names: config.event_names.into_iter().collect(),
            page_routes: PageRoutes::new(config.page_routes),
            batches_seen: SeenKeys::new(DEDUPE_CAPACITY, DEDUPE_TTL),
            vitals_seen: SeenKeys::new(DEDUPE_CAPACITY, DEDUPE_TTL),
            forwarder,
            source_maps: config
                .source_maps_dir
                .as_deref()
                .map(SourceMaps::load)
                .unwrap_or_default(),
        }
    }
}
