//! [`ObsLayer`]: the one call that instruments a router.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use obs_core::{Metrics, Telemetry};
use opentelemetry::propagation::TextMapPropagator;
use tower_layer::Layer;

use crate::client_addr::TrustedProxies;
use crate::custom_label::{CustomLabel, CustomLabelError, CustomLabels};
use crate::extract::Extraction;
use crate::instruments::Instruments;
use crate::path_rules::PathRules;
use crate::route::{KnownMethods, MatchedPathExtractor, RouteExtractor};
use crate::service::ObsService;
use crate::span::TraceContext;

/// Records HTTP RED metrics and opens a server span for every request.
///
/// Add it with one call, [`Router::layer`](axum::Router::layer), after the routes:
///
/// ```
/// use axum::{routing::get, Router};
///
/// # fn main() -> Result<(), obs_core::Error> {
/// let telemetry = obs_core::Telemetry::builder("todo-backend").build()?;
/// let app: Router = Router::new()
///     .route("/todos/{id}", get(|| async { "todo" }))
///     .layer(obs_axum::ObsLayer::new(&telemetry))
///     .merge(obs_axum::metrics_router(&telemetry));
/// # Ok(()) }
/// ```
///
/// With [`ObsLayer::from_metrics`] it records into a [`Metrics`] of your own. Every clone
/// shares one set of instruments and one label cache.
#[derive(Clone)]
#[must_use]
pub struct ObsLayer {
    shared: Arc<Shared>,
}

/// What every service made by one layer shares.
pub(crate) struct Shared {
    /// `None` when the families could not be registered: requests pass through untouched.
    pub(crate) instruments: Option<Arc<Instruments>>,
    pub(crate) config: Config,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) skip_paths: PathRules,
    pub(crate) skip_metrics: PathRules,
    pub(crate) skip_spans: PathRules,
    pub(crate) spans: bool,
    pub(crate) body_sizes: bool,
    pub(crate) trace_response: bool,
    pub(crate) request_id: bool,
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    pub(crate) trace_context: TraceContext,
    pub(crate) extraction: Extraction,
    pub(crate) extractor: Arc<dyn RouteExtractor>,
    pub(crate) only_unobserved: bool,
    /// The telemetry's sampler, asked before the span is opened; `None`: the span is always
    /// opened and the tracer decides.
    pub(crate) head_sampler: Option<obs_core::HeadSampler>,
    families: Option<obs_core::HttpServerMetrics>,
}

/// Left in a request's extensions by every [`ObsService`] it passes, recorded or skipped, so
/// that a layer set to [`ObsLayer::only_unobserved`] further in lets it through untouched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observed;

/// Set once a layer with [`ObsLayer::only_unobserved`] exists in the process. Until then no
/// service reads [`Observed`], and leaving it would cost every request a grown extension map
/// (axum's three entries fill the map's first allocation).
static MARKER_READ: AtomicBool = AtomicBool::new(false);

/// Whether a service must leave [`Observed`] in the requests it sees. The flag is set while
/// an `only_unobserved` layer is configured, before any service it makes can see a request.
pub(crate) fn marker_read() -> bool {
    MARKER_READ.load(Ordering::Relaxed)
}

impl Config {
    fn new(families: Option<obs_core::HttpServerMetrics>) -> Self {
        Config {
            skip_paths: PathRules::default(),
            skip_metrics: PathRules::default(),
            skip_spans: PathRules::default(),
            spans: true,
            body_sizes: true,
            trace_response: true,
            request_id: true,
            trusted_proxies: Arc::new(TrustedProxies::none()),
            trace_context: TraceContext::Continue,
            extraction: Extraction::global(),
            extractor: Arc::new(MatchedPathExtractor),
            only_unobserved: false,
            head_sampler: None,
            families,
        }
    }

    /// Whether `path` is left out of the metrics, and of the spans.
    pub(crate) fn skips(&self, path: &str) -> (bool, bool) {
        let both = self.skip_paths.matches(path);
        (
            both || self.skip_metrics.matches(path),
            both || self.skip_spans.matches(path),
        )
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObsLayer")
            .field("skip_paths", &self.config.skip_paths)
            .field("skip_metrics", &self.config.skip_metrics)
            .field("skip_spans", &self.config.skip_spans)
            .field("spans", &self.config.spans)
            .field("body_sizes", &self.config.body_sizes)
            .field("trace_response", &self.config.trace_response)
            .field("request_id", &self.config.request_id)
            .field("trusted_proxies", &self.config.trusted_proxies)
            .field("trace_context", &self.config.trace_context)
            .field("only_unobserved", &self.config.only_unobserved)
            .field("head_sampling", &self.config.head_sampler.is_some())
            .field("known_propagators", &self.config.extraction.is_known())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ObsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared.fmt(f)
    }
}

impl ObsLayer {
    /// A layer recording into the registry of `telemetry`, extracting incoming trace context
    /// with its propagators.
    ///
    /// Never fails: if the registry holds a conflicting metric of one of our names (possible
    /// only in a registry the application brought, see
    /// [`TelemetryBuilder::registry`](obs_core::TelemetryBuilder::registry)), the error is
    /// logged and the layer passes requests through untouched; the service keeps working, only
    /// its instrumentation is missing. [`ObsLayer::from_metrics`] returns the error instead.
    pub fn new(telemetry: &Telemetry) -> Self {
        Self::from_metrics(telemetry.metrics())
            .unwrap_or_else(|error| {
                tracing::error!(%error, "HTTP instrumentation is off; requests are still served");
                ObsLayer {
                    shared: Arc::new(Shared {
                        instruments: None,
                        config: Config::new(None),
                    }),
                }
            })
            .telemetry_propagator(telemetry)
            .head_sampler(telemetry.head_sampler().cloned())
    }

    /// The propagator of `telemetry`, which the layer knows: a request without the headers
    /// its propagators read is not handed to them.
    fn telemetry_propagator(self, telemetry: &Telemetry) -> Self {
        let propagator: Arc<dyn TextMapPropagator + Send + Sync> = Arc::new(telemetry.propagator());
        let extraction = Extraction::known(propagator, telemetry.propagators());
        self.config(|c| c.extraction = extraction)
    }

    fn head_sampler(self, sampler: Option<obs_core::HeadSampler>) -> Self {
        self.config(|c| c.head_sampler = sampler)
    }

    /// A layer recording into `metrics`. Incoming trace context is extracted with the global
    /// propagator unless [`propagator`](Self::propagator) sets one.
    ///
    /// # Errors
    /// When the registry holds a metric of one of our names that obs did not create.
    pub fn from_metrics(metrics: &Metrics) -> Result<Self, obs_core::Error> {
        let families = metrics.http_server()?;
        Ok(Self::with_families(families, CustomLabels::default()))
    }

    /// A layer as [`ObsLayer::new`] makes, whose duration and body-size histograms and server
    /// span also carry `labels`: values the application reads from the request or response,
    /// from sets it declares (see [`CustomLabel`] and the [crate docs](crate#custom-labels)).
    ///
    /// Build it before any other [`ObsLayer`] or [`metrics_router`](crate::metrics_router) on
    /// the same telemetry: the labels of a metric family are fixed when it is registered, and
    /// the layers built after this one record into the same families (with the custom labels
    /// empty). With no labels this is [`ObsLayer::new`], failing where that one logs.
    ///
    /// # Errors
    /// When a label breaks one of the limits of [`obs_core::names`] (each
    /// [`CustomLabelError`] variant names the label), or the HTTP families cannot be
    /// registered with these labels ([`CustomLabelError::Registry`]): another layer registered
    /// them first with other labels, or a foreign metric has one of their names.
    pub fn with_labels(
        telemetry: &Telemetry,
        labels: impl IntoIterator<Item = CustomLabel>,
    ) -> Result<Self, CustomLabelError> {
        Ok(Self::from_metrics_with_labels(telemetry.metrics(), labels)?
            .telemetry_propagator(telemetry))
    }

    /// A layer as [`ObsLayer::from_metrics`] makes, with `labels` as
    /// [`ObsLayer::with_labels`] adds them.
    ///
    /// # Errors
    /// As [`ObsLayer::with_labels`].
    pub fn from_metrics_with_labels(
        metrics: &Metrics,
        labels: impl IntoIterator<Item = CustomLabel>,
    ) -> Result<Self, CustomLabelError> {
        let custom = CustomLabels::new(labels.into_iter().collect())?;
        if custom.is_empty() {
            return Ok(Self::from_metrics(metrics)?);
        }
        let families = metrics.http_server_with_labels(&custom.names())?;
        Ok(Self::with_families(families, custom))
    }

    fn with_families(families: obs_core::HttpServerMetrics, custom: CustomLabels) -> Self {
        let methods = KnownMethods::from_env();
        let instruments = Instruments::new(families.clone(), methods, Arc::new(custom));
        ObsLayer {
            shared: Arc::new(Shared {
                instruments: Some(Arc::new(instruments)),
                config: Config::new(Some(families)),
            }),
        }
    }

    fn config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.shared.config.clone();
        change(&mut config);
        self.shared = Arc::new(Shared {
            instruments: self.shared.instruments.clone(),
            config,
        });
        self
    }

    /// Paths that are neither measured nor traced, such as `/metrics` and `/health`. A pattern
    /// matches the request path exactly, or, ending in `*`, as a prefix (`/static/*`).
    /// Defaults to none.
    ///
    /// Requests this layer never sees are not affected: with the metrics router merged after
    /// this layer, hand the layer to [`MetricsRoute::obs_layer`](crate::MetricsRoute::obs_layer)
    /// for its paths to be skipped there too.
    pub fn skip_paths<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let rules = PathRules::new(paths);
        self.config(|c| c.skip_paths = rules)
    }

    /// Paths left out of the metrics but still traced, such as a slow export endpoint whose
    /// latency would drown the others' while its traces still matter. Patterns as in
    /// [`skip_paths`](Self::skip_paths). Defaults to none.
    pub fn skip_metrics<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let rules = PathRules::new(paths);
        self.config(|c| c.skip_metrics = rules)
    }

    /// Paths measured but not traced, such as a health check whose rate and errors matter but
    /// whose spans would fill the trace store. Patterns as in [`skip_paths`](Self::skip_paths).
    /// Defaults to none.
    pub fn skip_spans<I, P>(self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let rules = PathRules::new(paths);
        self.config(|c| c.skip_spans = rules)
    }

    /// Whether to open a server span per request. Defaults to `true`.
    pub fn spans(self, enabled: bool) -> Self {
        self.config(|c| c.spans = enabled)
    }

    /// Whether to record request and response body sizes. Defaults to `true`.
    pub fn body_sizes(self, enabled: bool) -> Self {
        self.config(|c| c.body_sizes = enabled)
    }

    /// Whether to send the W3C `traceresponse` header with the trace id. Defaults to `true`.
    pub fn trace_response_header(self, enabled: bool) -> Self {
        self.config(|c| c.trace_response = enabled)
    }

    /// Whether to honour or generate `x-request-id` and echo it. A caller's id is kept only
    /// when it is at most [`MAX_REQUEST_ID_LEN`](obs_core::names::MAX_REQUEST_ID_LEN) bytes of
    /// ASCII letters, digits and `-_.:;=+/@`; otherwise a generated one replaces it. Defaults
    /// to `true`.
    pub fn request_id(self, enabled: bool) -> Self {
        self.config(|c| c.request_id = enabled)
    }

    /// The proxies whose `X-Forwarded-For` is believed for the span's `client.address`; see
    /// [`TrustedProxies`]. Without them the client is the TCP peer from axum's
    /// [`ConnectInfo`](axum::extract::ConnectInfo) (absent unless the server was started with
    /// [`into_make_service_with_connect_info`](axum::Router::into_make_service_with_connect_info)),
    /// and the header is ignored. Defaults to none.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let metrics = obs_core::Metrics::new();
    /// let proxies: obs_axum::TrustedProxies = "10.0.0.0/8, ::1".parse()?;
    /// let layer = obs_axum::ObsLayer::from_metrics(&metrics)?.trusted_proxies(proxies);
    /// # Ok(()) }
    /// ```
    pub fn trusted_proxies(self, proxies: TrustedProxies) -> Self {
        let proxies = Arc::new(proxies);
        self.config(|c| c.trusted_proxies = proxies)
    }

    /// Whether a request's `traceparent` is continued or only linked from a new trace; see
    /// [`TraceContext`]. Use [`TraceContext::NewRootWithLink`] where untrusted clients reach
    /// the service directly, so their sampled flag cannot override the sampler. Defaults to
    /// [`TraceContext::Continue`].
    pub fn trace_context(self, mode: TraceContext) -> Self {
        self.config(|c| c.trace_context = mode)
    }

    /// The propagator incoming trace context is extracted with. Defaults to the one of the
    /// [`Telemetry`] given to [`ObsLayer::new`] (`OTEL_PROPAGATORS`), else the global
    /// propagator, so services set up with [`TelemetryBuilder::build`](obs_core::TelemetryBuilder::build)
    /// and no global state still continue their callers' traces.
    pub fn propagator(self, propagator: impl TextMapPropagator + Send + Sync + 'static) -> Self {
        let extraction = Extraction::with(Arc::new(propagator));
        self.config(|c| c.extraction = extraction)
    }

    /// How to find the route template. Defaults to axum's `MatchedPath`. See the
    /// [cardinality rules](crate::route) before writing one.
    pub fn route_extractor(self, extractor: impl RouteExtractor) -> Self {
        let extractor: Arc<dyn RouteExtractor> = Arc::new(extractor);
        self.config(|c| c.extractor = extractor)
    }

    /// Whether to record only the requests that no other `ObsLayer` has seen on their way in.
    /// Defaults to `false`.
    ///
    /// This is for a router that is [merged](axum::Router::merge) into the application after
    /// the application's [`Router::layer`](axum::Router::layer) call: axum then gives the
    /// merged router's fallback to the whole application, so without a layer of its own the
    /// requests that match no route are not recorded at all. With this set, the same router
    /// can also be merged *before* the application's layer without counting a request twice:
    /// the outer layer records it (or skips it, by its own [`skip_paths`](Self::skip_paths))
    /// and this one lets it through. [`metrics_router`](crate::metrics_router) does this for
    /// its route and fallback.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use obs_axum::ObsLayer;
    ///
    /// # fn main() -> Result<(), obs_core::Error> {
    /// let metrics = obs_core::Metrics::new();
    /// let layer = ObsLayer::from_metrics(&metrics)?;
    /// let admin: Router = Router::new().route("/admin", get(|| async { "admin" }));
    /// let app: Router = Router::new()
    ///     .route("/todos/{id}", get(|| async { "todo" }))
    ///     .layer(layer.clone())
    ///     .merge(admin.layer(layer.only_unobserved(true)));
    /// # Ok(()) }
    /// ```
    pub fn only_unobserved(self, enabled: bool) -> Self {
        if enabled {
            MARKER_READ.store(true, Ordering::Relaxed);
        }
        self.config(|c| c.only_unobserved = enabled)
    }

    /// The methods kept as `http_request_method` values; others become `_OTHER`. Defaults to
    /// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`, then RFC 9110 + PATCH + QUERY.
    pub fn known_methods<I, M>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = M>,
        M: AsRef<str>,
    {
        let custom = self
            .shared
            .instruments
            .as_ref()
            .map(|i| Arc::clone(&i.custom))
            .unwrap_or_default();
        let instruments = self.shared.config.families.clone().map(|families| {
            Arc::new(Instruments::new(
                families,
                KnownMethods::new(methods),
                custom,
            ))
        });
        self.shared = Arc::new(Shared {
            instruments,
            config: self.shared.config.clone(),
        });
        self
    }
}

impl<S: 'static> Layer<S> for ObsLayer {
    type Service = ObsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObsService::new(inner, Arc::clone(&self.shared))
    }
}
