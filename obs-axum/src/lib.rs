//! One tower layer that gives an axum (or any tower) HTTP service its RED metrics and server
//! spans, following the OpenTelemetry semantic conventions, plus a `/metrics` route.
//!
//! # Example
//!
//! ```no_run
//! use axum::{extract::Path, routing::get, Router};
//!
//! async fn get_todo(Path(id): Path<u64>) -> String {
//!     tracing::info!(id, "loading todo"); // inside the server span, with its trace id
//!     format!("todo {id}")
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = obs_core::Telemetry::from_env("todo-backend").init()?;
//!     let app = Router::new()
//!         .route("/todos/{id}", get(get_todo))
//!         .layer(obs_axum::ObsLayer::new(&telemetry).skip_paths(["/health"]))
//!         .merge(obs_axum::metrics_router(&telemetry));
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! Apply the layer with [`Router::layer`](axum::Router::layer) after adding the routes: axum
//! then wraps each route, and the layer sees the matched route template. The metrics router
//! may be merged after the layer, as here, or before it: either way a path no route matches
//! is recorded as `http_route="unmatched"` (404) and a method a route does not serve under the
//! route's template (405), once. Merged after, the metrics router's fallback replaces the
//! application's (that is how axum merges routers), so it records those requests with an
//! `ObsLayer` of its own, which skips the scrapes; see [`MetricsRoute`] for how to give it the
//! application's settings or record the scrapes. Routers that you merge after the
//! layer are not wrapped by it; give them
//! [`ObsLayer::only_unobserved`] so that their routes and the fallback are recorded too.
//!
//! # Metrics
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | `http_server_request_duration_seconds` | histogram (0.005 … 10) | s | `http_request_method`, `http_route`, `http_response_status_code`, `error_type`, [custom labels](#custom-labels) |
//! | `http_server_active_requests` | gauge | requests | `http_request_method` |
//! | `http_server_request_body_size_bytes` | histogram | bytes | `http_request_method`, `http_route`, `http_response_status_code`, [custom labels](#custom-labels) |
//! | `http_server_response_body_size_bytes` | histogram | bytes | `http_request_method`, `http_route`, `http_response_status_code`, [custom labels](#custom-labels) |
//!
//! The duration runs until the response body has been sent or dropped; for protocol upgrades
//! (`101`, websockets) it ends with the response. The response body size is counted from the
//! bytes that really stream through. The request body size is known before the handler runs
//! for most requests: `0` for an empty body, the exact length a body received by hyper takes
//! from `Content-Length`, up to
//! [`MAX_DECLARED_REQUEST_BODY_LEN`](obs_core::names::MAX_DECLARED_REQUEST_BODY_LEN) (64 KiB);
//! the request then reaches the inner service untouched (OpenTelemetry's semantic conventions
//! take the size from `Content-Length` too). A body of unknown length (chunked), or declaring
//! more, is counted as the handler reads it, by replacing an axum `Body` with one that counts,
//! so a client cannot claim a size it does not send; in a service whose body type is not
//! axum's, such a request records no request body size. `error_type` is empty on success, the status code for 5xx, and
//! `cancelled`, `panic`, `body_error` or the inner service's error type name when no
//! complete response was sent. For gRPC (tonic, or any service answering with a
//! `grpc-status`), a status other than `0` in the trailers, or in the headers of a
//! trailers-only response, makes `error_type` the code's name (`NOT_FOUND`, `UNAVAILABLE`, …,
//! from [`GRPC_STATUS_NAMES`](obs_core::names::GRPC_STATUS_NAMES)). The layer wraps any tower
//! service, not only an axum `Router`: give it a [`RouteExtractor`] that returns a bounded
//! route (a gRPC method from a known list, say). The active-requests gauge falls back whichever way a request
//! ends, client disconnects and panics included.
//!
//! # Exemplars and OpenMetrics
//!
//! When the server span is sampled, the duration observation keeps its trace and span id as
//! the exemplar of its bucket. `/metrics` answers in the Prometheus text format, as before,
//! unless the scrape's `Accept` prefers `application/openmetrics-text` (Prometheus' default
//! scrape protocols do): then in OpenMetrics 1.0 with those exemplars and `# EOF`, gzip as
//! usual. Run Prometheus with `--enable-feature=exemplar-storage` to keep them, and set
//! `exemplarTraceIdDestinations` (`trace_id` → your tracing data source) on Grafana's
//! Prometheus data source to link them. The sampled flag comes from the span context the layer
//! already reads for `traceresponse`, so an unsampled request pays nothing for exemplars.
//!
//! # Cardinality
//!
//! Every label value comes from a bounded set: `http_route` is the route template (axum's
//! [`MatchedPath`](axum::extract::MatchedPath)) or `unmatched`, never the path a client sent;
//! methods outside RFC 9110 + PATCH + QUERY (or `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`)
//! become `_OTHER`; status codes are numbers. No Host header, query string or user value ever
//! becomes a label; [custom labels](#custom-labels) take only values the application
//! declared. The series count is therefore at most routes × methods × statuses seen (× the
//! custom value combinations).
//! Label handles are looked up once per (route, method, status) and cached, so the request
//! path takes neither the registry's locks nor allocates per request beyond the request-body
//! byte counter.
//!
//! # Custom labels
//!
//! [`ObsLayer::with_labels`] adds labels of the application's own to the duration and
//! body-size histograms (not to `http_server_active_requests`, counted before the response
//! exists) and, as attributes of the same names and values, to the server span: a tenant, an
//! API version, a plan. Each [`CustomLabel`] reads its value from a request header, from the
//! request head (an extension an authentication layer left, say) or from the response head
//! (an extension the handler set), and declares the values it may take. A value outside them
//! is recorded as `other`, an absent or empty one as the empty string, so clients cannot add
//! series:
//!
//! ```
//! use axum::{routing::get, Extension, Router};
//! use obs_axum::{CustomLabel, ObsLayer, ResponseHead};
//!
//! #[derive(Clone)]
//! struct Plan(&'static str);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let telemetry = obs_core::Telemetry::builder("reports").build()?;
//! let layer = ObsLayer::with_labels(
//!     &telemetry,
//!     [
//!         CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
//!         CustomLabel::response("plan", |res: &ResponseHead<'_>| {
//!             res.extensions.get::<Plan>().map(|p| p.0)
//!         })
//!         .values(["free", "pro"]),
//!     ],
//! )?;
//! let app: Router = Router::new()
//!     .route("/report", get(|| async { (Extension(Plan("pro")), "report") }))
//!     .layer(layer) // before `metrics_router`: see below
//!     .merge(obs_axum::metrics_router(&telemetry));
//!
//! let request = http::Request::get("/report")
//!     .header("x-api-version", "v9")
//!     .body(axum::body::Body::empty())?;
//! let response = tower::ServiceExt::oneshot(app, request).await?;
//! drop(response); // the request's record ends with its body
//! let text = telemetry.metrics().encode()?;
//! assert!(text.contains(r#"api_version="other""#) && text.contains(r#"plan="pro""#));
//! # Ok(()) }
//! ```
//!
//! The limits, checked when the layer is built ([`CustomLabelError`] names the label at
//! fault), are in [`obs_core::names`]:
//!
//! | limit | value |
//! |---|---|
//! | labels per layer | [`MAX_CUSTOM_LABELS`](obs_core::names::MAX_CUSTOM_LABELS) (4) |
//! | values per label | 1 to [`MAX_CUSTOM_LABEL_VALUES`](obs_core::names::MAX_CUSTOM_LABEL_VALUES) (64), distinct, non-empty, not `other` |
//! | bytes per value | [`MAX_CUSTOM_LABEL_VALUE_LEN`](obs_core::names::MAX_CUSTOM_LABEL_VALUE_LEN) (64) |
//! | combinations: the product of (values + 2) over the labels | [`MAX_CUSTOM_LABEL_COMBINATIONS`](obs_core::names::MAX_CUSTOM_LABEL_COMBINATIONS) (256) |
//! | names | Prometheus label names, none of [`RESERVED_LABEL_NAMES`](obs_core::names::RESERVED_LABEL_NAMES) or starting with `__` |
//!
//! So each (route, method, status) series becomes at most 256. The handles are cached per
//! combination as they are per route: a request compares its values with the declared ones
//! (no hashing of what it sent) and looks its series up by their small indices.
//!
//! A family's labels are fixed when it is registered, so build the labelled layer before
//! any other [`ObsLayer`] or [`metrics_router`] on the same registry; those built later
//! record into the same families with the custom labels empty. Built after them, it fails
//! with [`obs_core::Error::HttpLabelsRegistered`] (in [`CustomLabelError::Registry`]).
//! The metrics router's own layer (which records the requests no route matches when it is
//! merged after your layer) is one of those; give it yours with
//! [`MetricsRoute::obs_layer`] for those requests to carry the custom labels too.
//!
//! # Spans
//!
//! Each request gets an `INFO` span (target `obs_axum`) named `{METHOD} {route}`, kind
//! `server`, with `http.request.method`, `http.route`, `url.path`, `url.scheme`,
//! `http.response.status_code` (an integer), `client.address`, `user_agent.original` and
//! `http.request_id`, and the [custom labels](#custom-labels) as attributes of their names and
//! bounded values; status `ERROR` with `error.type` on 5xx and on failures. The response
//! carries `traceresponse: 00-{trace}-{span}-{flags}` and `x-request-id` (the caller's, or a
//! generated one, also visible to handlers).
//!
//! The W3C context is extracted from `traceparent`/`tracestate` with the propagators of the
//! [`Telemetry`](obs_core::Telemetry) given to [`ObsLayer::new`] (`OTEL_PROPAGATORS`), so a
//! service set up with [`TelemetryBuilder::build`](obs_core::TelemetryBuilder::build) and no
//! global state continues its callers' traces; a layer from [`ObsLayer::from_metrics`] uses
//! the global propagator unless given one with [`ObsLayer::propagator`]. By default ([`TraceContext::Continue`]) the span continues the caller's trace, so a request
//! from Caddy or a browser joins its trace and a parent-based sampler follows the caller's
//! sampled flag. On an edge that untrusted clients reach,
//! [`ObsLayer::trace_context`]`(`[`TraceContext::NewRootWithLink`]`)` starts a new trace with
//! a link to the caller's span instead, and the sampler decides by its own ratio.
//!
//! # Unsampled requests
//!
//! A layer from [`ObsLayer::new`] asks the telemetry's sampler before it opens the span,
//! when the telemetry allows it ([`Telemetry::head_sampler`](obs_core::Telemetry::head_sampler):
//! JSON logs, one filter for logs and traces, no layers of the application's own, spans
//! exported). A request the sampler drops is served without a `tracing` span, inside an
//! unsampled OpenTelemetry context instead (see [`obs_core::head_sampling`]). From outside
//! nothing changes: `traceresponse` ends in `-00`, log lines written while it is served carry
//! its `trace_id`, `span_id` and the same `span` object (formatted only when a line is
//! written), child spans (obs-sqlx, obs-redis, [`ClientLayer`]) are unsampled children of it
//! and send `traceparent` with the sampled flag off. Inside, `tracing::Span::current()` is
//! none in such a request.
//!
//! What an unsampled request costs is therefore nearly what metrics alone cost: in the paired
//! bench with a 10% sampler, **an unsampled request costs metrics only + about 0.7 µs** on
//! the reference machine (the request id, W3C extraction, the sampler's decision, the context,
//! and `traceresponse`; measured under a scoped dispatch, which adds a thread-local lookup to
//! every `tracing` call), against + 2.5 µs when the span was opened and dropped by the
//! tracer. A layer from [`ObsLayer::from_metrics`] has no sampler to ask and always opens the
//! span.
//!
//! # Constructors and errors
//!
//! Every instrument has two constructors, as [`ObsLayer`] shows:
//!
//! - `new(&telemetry)`, the common case, never fails. It records into the telemetry's
//!   registry and uses its propagators. Should the registry hold a foreign metric of one of
//!   our names (only possible in a registry the application brought), the error is logged and
//!   the service keeps working without that instrumentation.
//! - `from_metrics(&metrics)` records into a [`Metrics`](obs_core::Metrics) of your own and
//!   returns that registration error, as `obs_sqlx::InstrumentedPool::new` and
//!   `obs_redis::InstrumentedConnection::new` do.
//!
//! [`ClientLayer`] and `rum::RumReceiver` (feature `rum`) follow the same pattern;
//! [`metrics_router`] and [`MetricsRoute::new`] register nothing and cannot fail.
//!
//! # Hostile input
//!
//! The work and output one request causes are bounded by us, whatever the client sends
//! (limits in [`obs_core::names`]):
//!
//! | attribute | from | bound |
//! |---|---|---|
//! | `user_agent.original` | `User-Agent` | cut to [`MAX_USER_AGENT_LEN`](obs_core::names::MAX_USER_AGENT_LEN) (256) bytes, ending in `…` |
//! | `url.path` | the request path | cut to [`MAX_URL_PATH_LEN`](obs_core::names::MAX_URL_PATH_LEN) (1024) bytes, ending in `…` |
//! | `http.request_id`, `x-request-id` | `x-request-id` | kept if at most [`MAX_REQUEST_ID_LEN`](obs_core::names::MAX_REQUEST_ID_LEN) (128) bytes of `[A-Za-z0-9-_.:;=+/@]`, else replaced by a generated id |
//! | `client.address` | the TCP peer, `X-Forwarded-For` | a parsed IP address: the peer from [`ConnectInfo`](axum::extract::ConnectInfo), or, when the peer is one of the [`ObsLayer::trusted_proxies`], the first `X-Forwarded-For` hop they did not add (at most [`MAX_FORWARDED_HOPS`](client_addr::MAX_FORWARDED_HOPS) examined); absent without `ConnectInfo` |
//! | `url.scheme` | the request URI, `X-Forwarded-Proto` | `http` or `https`; the header only when the peer is one of the [`ObsLayer::trusted_proxies`] |
//! | [custom labels](#custom-labels) | a header, the request or response head | one of the declared values, `other`, or empty |
//!
//! Values are cut on a character boundary, the marker counted in the limit. Log lines
//! written inside the span carry these fields, so they are bounded by the same limits.
//!
//! # Outgoing requests
//!
//! [`ClientLayer`] instruments the other direction: wrap an HTTP client (hyper-util's legacy
//! client, or reqwest through a small adapter) and each call records
//! `http_client_request_duration_seconds` (labels `http_request_method`, `server_address` from
//! an allow-list else `_OTHER`, `server_port`, `http_response_status_code`, `error_type`) and
//! opens a client span whose context goes out in `traceparent`, so the called service's server
//! span joins the caller's trace. See [`client`].
//!
//! # Compared with peers
//!
//! Measured side by side by `cargo bench -p obs-benches --bench http -- paired` on 2 vCPUs
//! (details and method in `benches/README.md`): median ns added per request over a bare
//! router, all variants under the same subscriber, in one run in the machine's fast state
//! (2026-12-01, fifth sitting: compare the ratios, not the absolute numbers, with other
//! sittings). "full" is the layer `ObsLayer::new(&telemetry)` builds; built with
//! [`ObsLayer::from_metrics`] (global propagator, no head sampler, span fields formatted for
//! the log layer up front) it adds 3 108. With [`metrics_router`] merged, obs-axum adds about
//! 55 ns more (the marker that keeps a request from being recorded twice).
//!
//! | | added ns | RED metrics | OTel names | server span + W3C context | body sizes | `traceresponse` / request id |
//! |---|---:|---|---|---|---|---|
//! | obs-axum, metrics only | 520 | ✓ | ✓ | — | ✓ | — |
//! | obs-axum, full | 2 828 | ✓ | ✓ | ✓ | ✓ | ✓ |
//! | obs-axum, full, 10% sampler, unsampled request | 1 269 | ✓ | ✓ | context only | ✓ | ✓ |
//! | axum-prometheus | 1 955 | ✓ | — | — | response | — |
//! | tower-http `TraceLayer` | 2 828 | — | — | span, no propagation | — | — |
//! | axum-prometheus + `TraceLayer` | 4 932 | ✓ | — | span, no propagation | response | — |
//!
//! Over ten runs the full layer adds 0.57–0.59× what axum-prometheus and `TraceLayer` add
//! together (0.54× in instructions). Metrics only adds 0.22–0.28× what axum-prometheus adds
//! (0.19× in instructions): the least any layer keeping the same record (duration until the
//! body ends, both body sizes, in-flight requests) pays under `Router::layer`, with nothing
//! looked up, is already 0.14–0.17× (the bench's `floor_metrics_only`), and the route, method
//! and status labels cost the rest. An unsampled request adds about 0.75 µs to what metrics
//! only adds (see [Unsampled requests](#unsampled-requests)).
//!
//! # Feature flags
//!
//! | name | description | default |
//! |---|---|---|
//! | `rum` | `rum::RumReceiver`: a Grafana Faro receiver turning browser web vitals, exceptions, logs and events into metrics and `tracing` events | no |

#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
pub mod client;
pub mod client_addr;
mod custom_label;
mod extract;
mod future;
mod in_flight;
mod instruments;
mod layer;
mod metrics_route;
mod negotiate;
mod path_rules;
mod request_id;
pub mod route;
#[cfg(feature = "rum")]
#[cfg_attr(docsrs, doc(cfg(feature = "rum")))]
pub mod rum;
mod service;
mod span;

pub use body::ResponseBody;
pub use client::ClientLayer;
pub use client_addr::{TrustedProxies, TrustedProxiesError};
pub use custom_label::{CustomLabel, CustomLabelError, ResponseHead};
pub use future::ResponseFuture;
pub use layer::ObsLayer;
pub use metrics_route::{DEFAULT_METRICS_PATH, MetricsRoute, metrics_router};
pub use request_id::X_REQUEST_ID;
pub use route::{MatchedPathExtractor, RouteExtractor, RouteRequest};
pub use service::ObsService;
pub use span::TraceContext;
