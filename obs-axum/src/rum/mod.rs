//! A [Grafana Faro](https://grafana.com/oss/faro/) real-user-monitoring receiver: browsers
//! running the Faro Web SDK post their web vitals, exceptions, logs and events to the service
//! itself, which turns them into Prometheus histograms and counters and `tracing` events (and
//! so into Loki, next to the backend's logs). No collector to run.
//!
//! The receiver answers like Grafana Alloy's `faro.receiver`, so the SDK's retry logic works
//! unchanged; unlike Alloy it records web vitals, page-load phases and resource timings as
//! histograms.
//!
//! # Example
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use obs_axum::rum::RumReceiver;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let telemetry = obs_core::Telemetry::from_env("todo-backend").init()?;
//!     let app = Router::new()
//!         .route("/", get(|| async { "the page that loads the Faro SDK" }))
//!         .merge(
//!             RumReceiver::new(&telemetry)             // POST /faro/collect
//!                 .app_names(["todo-frontend"])
//!                 .page_routes(["/", "/todos/{id}"])
//!                 .event_names(["signup", "login"])
//!                 .into_router(),
//!         )
//!         .merge(obs_axum::metrics_router(&telemetry));
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```
//!
//! In the page: `initializeFaro({ url: '/faro/collect', app: { name: 'todo-frontend' }, ... })`.
//!
//! # Metrics
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | `browser_web_vital_lcp_seconds` | histogram (0.1 … 10) | s | `app_name`, `page_route`, `rating` |
//! | `browser_web_vital_fcp_seconds` | histogram (0.1 … 10) | s | `app_name`, `page_route`, `rating` |
//! | `browser_web_vital_ttfb_seconds` | histogram (0.1 … 10) | s | `app_name`, `page_route`, `rating` |
//! | `browser_web_vital_inp_seconds` | histogram (0.05 … 2) | s | `app_name`, `page_route`, `rating` |
//! | `browser_web_vital_cls` | histogram (0.01 … 1) | — | `app_name`, `page_route`, `rating` |
//! | `browser_navigation_phase_duration_seconds` | histogram (0.001 … 30) | s | `app_name`, `page_route`, `phase` (`dns`, `connect`, `tls`, `ttfb`, `dom_processing`, `page_load`) |
//! | `browser_resource_duration_seconds` | histogram (0.001 … 30) | s | `app_name`, `initiator_type` (`script`, `link`, `css`, `img`, `fetch`, `xmlhttprequest`, `other`) |
//! | `browser_resource_transfer_size_bytes` | histogram (64 … 64 Mi) | bytes | `app_name`, `initiator_type` |
//! | `browser_exceptions_total` | counter | exceptions | `app_name`, `error_type` |
//! | `browser_events_total` | counter | events | `app_name`, `event_name` |
//! | `obs_rum_items_received_total` | counter | items | `kind` (`measurement`, `exception`, `log`, `event`, `span`) |
//! | `obs_rum_requests_rejected_total` | counter | requests | `reason` (`origin`, `unauthorized`, `rate_limited`, `overloaded`, `timeout`, `too_large`, `bad_gzip`, `bad_encoding`, `bad_body`, `bad_json`, `internal`) |
//! | `obs_rum_items_dropped_total` | counter | items | `reason` (`item_limit`, `duplicate`, `duplicate_batch`, `unknown_web_vital`, `invalid_value`, `traces_not_forwarded`, `queue_full`, `export_failed`) |
//!
//! Names, label names and buckets are in [`obs_core::names`]. Web vitals arrive in
//! milliseconds and are recorded in seconds; CLS is unitless. A report repeated with the same
//! `context.id` (the SDK's `reportAllChanges`) is counted once.
//!
//! The navigation and resource histograms come from the events Faro's performance
//! instrumentation sends, `faro.performance.navigation` (once per page load) and
//! `faro.performance.resource` (per resource; the SDK reports only `fetch` and
//! `xmlhttprequest` ones unless the page sets `trackResources: true`). Their attributes are
//! milliseconds and bytes as decimal strings: `dnsLookupTime`, `tcpHandshakeTime` (which
//! includes TLS), `tlsNegotiationTime`, `ttfb`, `domProcessingTime`, `pageLoadTime`;
//! `duration`, `transferSize` (0 when the browser's cache served it) and `initiatorType`. A
//! value that is missing, `unknown`, not a number, negative, longer than 10 minutes or larger
//! than 1 GiB is not recorded and counts one `obs_rum_items_dropped_total{reason="invalid_value"}`
//! per value. A TLS time longer than the connect phase is Faro's reading of a page without TLS
//! and records nothing. These events stay events: they count in `browser_events_total` (as
//! `other` unless [`RumReceiver::event_names`] lists them) and are logged like any other; the
//! histograms' `_count` is not another count of events. The navigation `ttfb` phase and
//! `browser_web_vital_ttfb_seconds` measure the same thing from two sources.
//!
//! # Cardinality
//!
//! Every label comes from a bounded set, whatever browsers send: `app_name` is a name from
//! [`RumReceiver::app_names`] or `other`; `page_route` is the first of
//! [`RumReceiver::page_routes`] matching the page URL's path, or `other`; `rating` is `good`,
//! `needs-improvement`, `poor` or `other`; `event_name` is from [`RumReceiver::event_names`]
//! or `other`; `phase` and `initiator_type` are the closed sets above (an unknown initiator is
//! `other`); `error_type` is a standard JavaScript error name (`Error`, `TypeError`,
//! `ReferenceError`, `RangeError`, `SyntaxError`, `URIError`, `EvalError`, `AggregateError`,
//! `SecurityError`, `NetworkError`, `AbortError`) or `other`. Raw values (the app name as sent,
//! page URLs, session ids) appear only in `tracing` events.
//!
//! # What one request can cost
//!
//! The receiver faces the public internet, so the work a single request causes is bounded by
//! the constants below, never by what the client sends. Each is configurable where the
//! "setter" column says so.
//!
//! | bound | default | setter |
//! |---|---|---|
//! | body, as sent and decompressed | 5 MiB ([`DEFAULT_MAX_BODY_BYTES`]) | [`RumReceiver::max_body_bytes`] |
//! | measurements per batch | 200 ([`DEFAULT_MAX_MEASUREMENTS`]) | [`BatchLimits::measurements`] |
//! | exceptions per batch | 50 ([`DEFAULT_MAX_EXCEPTIONS`]) | [`BatchLimits::exceptions`] |
//! | logs per batch | 200 ([`DEFAULT_MAX_LOGS`]) | [`BatchLimits::logs`] |
//! | events per batch | 200 ([`DEFAULT_MAX_EVENTS`]) | [`BatchLimits::events`] |
//! | spans per batch | 500 ([`DEFAULT_MAX_SPANS`]) | [`BatchLimits::spans`] |
//! | frames per exception | 50 ([`DEFAULT_MAX_FRAMES`]) | [`BatchLimits::frames`] |
//! | keys per context or attribute map, events per span | 32 ([`DEFAULT_MAX_MAP_KEYS`]) | [`BatchLimits::map_keys`] |
//! | bytes per string | 2 KiB ([`DEFAULT_MAX_STRING_BYTES`], at most [`MAX_STRING_BYTES`]) | [`BatchLimits::string_bytes`] |
//! | names, ids, per-item copies of batch fields | 128 bytes ([`SHORT_FIELD_BYTES`]) | — |
//! | rendered stack trace | 4 KiB ([`MAX_STACK_BYTES`]) | — |
//! | log line | 16 KiB ([`MAX_LOG_LINE_BYTES`]) | follows from the above |
//! | batches read and processed at once | 4 ([`DEFAULT_MAX_CONCURRENT_BATCHES`]), waiting ≤ 1 s ([`PERMIT_WAIT`]) | [`RumReceiver::max_concurrent_batches`] |
//! | time for the body to arrive | 10 s ([`BODY_READ_TIMEOUT`]) | — |
//! | requests per client address | 5/s, bursts of 20 ([`DEFAULT_CLIENT_RATE`], [`DEFAULT_CLIENT_BURST`]); 20 000 addresses remembered | [`RumReceiver::client_rate_limit`] |
//! | requests overall | 50/s, bursts of 100 ([`DEFAULT_RATE`], [`DEFAULT_BURST`]) | [`RumReceiver::rate_limit`] |
//! | idempotency keys and web-vital ids remembered | 10 000 each, for 10 minutes | — |
//! | browser span batches waiting for export | 64 | — |
//!
//! Items past a cap are skipped by the JSON parser without being built, so a body of a million
//! empty items costs one pass over its bytes, not a million objects; they are counted in
//! `obs_rum_items_dropped_total{reason="item_limit"}` and the batch is still answered `202`.
//! Nested objects and arrays inside context and attribute maps are not kept. Decompression,
//! parsing and recording run on tokio's blocking pool, never on the async workers, so the
//! service keeps answering its other routes while batches are processed.
//!
//! # Redaction
//!
//! Before anything is logged or forwarded, browser text (log messages, exception values, event
//! attributes, page URLs, span names and attributes) is scrubbed with [`Redactions`]: by
//! default email addresses, bearer tokens, JWTs, `password=`/`token=`/`secret=`/`api_key=`
//! style parameters and card numbers become `[email]`, `[redacted]`, `[jwt]` and `[card]`.
//! Set your own with [`RumReceiver::redactions`]. Control characters become spaces, and text
//! cut to its limit ends in `…`.
//!
//! # Logs
//!
//! Each batch writes one `INFO` event with target `obs_axum::rum`, `kind = "batch"` and the
//! batch-wide fields in full (up to the string limit): `app_name`, `app_version`,
//! `app_environment`, `page_url`, `page_route`, `session_id`, `browser_name`, `user_id` (never
//! the user's name or email), the item counts and `items_dropped`, `frames_dropped`,
//! `keys_dropped`. Then every item becomes an event with `kind`, and short copies of
//! `app_name`, `page_url` (without query and fragment) and `session_id`, plus
//! `browser_trace_id` and `browser_span_id` when the item carries W3C-shaped ids:
//!
//! - exceptions: `ERROR`, with `exception_type`, `exception_message`, `stacktrace` (the
//!   frames as `at function (file:line:column)` lines, resolved through the source maps of
//!   [`RumReceiver::source_maps_dir`] when one matches the script), `page_route` and
//!   `browser_name`;
//! - logs: at the level the browser gave (`log` is `INFO`);
//! - events: `INFO`, with `event_name`, `event_domain` and `event_attributes` (a JSON object);
//! - measurements: `DEBUG`.
//!
//! # Status codes
//!
//! Checks run in this order; the first that fails answers. The API key is checked before
//! the body is read and before a rate-limit token is taken, so requests without it cost
//! nothing and cannot drain the buckets of those that have it.
//!
//! | status | when |
//! |---|---|
//! | `204 No Content` | `OPTIONS` preflight from an origin in [`RumReceiver::allowed_origins`] |
//! | `403 Forbidden` | `OPTIONS` preflight from any other origin |
//! | `401 Unauthorized` | an API key is configured and `x-api-key` is missing or different |
//! | `429 Too Many Requests` | the client's or the global token bucket is empty; `Retry-After` is 1 to 30 s |
//! | `503 Service Unavailable` | every processing slot stayed busy for a second; `Retry-After: 1` |
//! | `408 Request Timeout` | the body took longer than 10 s |
//! | `413 Payload Too Large` | the body is over [`RumReceiver::max_body_bytes`], as sent or once decompressed |
//! | `400 Bad Request` | bad gzip, a content encoding other than gzip, a broken body stream, not a Faro JSON payload, or `traces` that are not OTLP spans |
//! | `429 Too Many Requests` | with [`RumReceiver::per_app_rate_limit`], the application's bucket is empty (known once the body is parsed) |
//! | `202 Accepted` (`ok`) | accepted, or a repeated `Idempotency-Key` already accepted within 10 minutes |
//! | `405 Method Not Allowed` | any method other than `POST` and `OPTIONS` |
//!
//! # Traces
//!
//! With [`RumReceiver::otlp_forwarding`], the OTLP/JSON spans in a batch (`traces`) go to
//! `<endpoint>/v1/traces` (OTLP/HTTP, JSON), so the browser's fetch span and the backend's
//! server span (which continued the browser's `traceparent`) form one trace. The receiver
//! parses the spans (a span needs a 32-hex-digit `traceId` and a 16-hex-digit `spanId`;
//! anything else answers `400`), keeps their names, times, kinds, statuses, events and scalar
//! attributes, scrubbed and cut like log text, and replaces the browser's resource with its
//! own: `service.name` is the allow-listed application name (or `other`), with
//! `obs.rum.source = "browser"` and `telemetry.sdk.language = "webjs"`. A page cannot name
//! itself as another service. The request only queues them: a task on obs-core's exporter
//! runtime posts them from a queue of 64 batches, and with [`RumReceiver::new`],
//! [`Telemetry::shutdown`](obs_core::Telemetry::shutdown) (or dropping the guard) posts what is
//! still queued, within the shutdown timeout. A full queue or a failed export drops the spans
//! and counts them (`queue_full`, `export_failed`). Without an endpoint, spans are counted (`kind="span"`)
//! and dropped with reason `traces_not_forwarded`.

mod batch;
mod forward;
mod handler;
mod idempotency;
mod limits;
mod page_route;
mod payload;
mod rate_limit;
mod receiver;
mod redact;
mod rejection;
mod shared;
mod source_map;
mod spans;
mod stack;
mod text;

pub use limits::BatchLimits;
pub use receiver::RumReceiver;
pub use redact::{RedactionError, Redactions};

use std::time::Duration;

/// The default path of the receiver.
pub const DEFAULT_PATH: &str = "/faro/collect";
/// The default body limit, as sent and after decompression: 5 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// The default rate limit, in requests per second.
pub const DEFAULT_RATE: f64 = 50.0;
/// The default burst of the rate limit, in requests.
pub const DEFAULT_BURST: u32 = 100;
/// The default rate limit per client address, in requests per second. The Faro SDK sends a
/// batch at most every 250 ms per page.
pub const DEFAULT_CLIENT_RATE: f64 = 5.0;
/// The default burst of the per-client rate limit, in requests.
pub const DEFAULT_CLIENT_BURST: u32 = 20;
/// The default number of batches read and processed at once; more wait up to
/// [`PERMIT_WAIT`], then get `503`.
pub const DEFAULT_MAX_CONCURRENT_BATCHES: usize = 4;
/// How long a request waits for a processing permit before `503`.
pub const PERMIT_WAIT: Duration = Duration::from_secs(1);
/// How long the body may take to arrive once a permit is held; slower bodies get `408`.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Measurements kept per batch by default.
pub const DEFAULT_MAX_MEASUREMENTS: usize = 200;
/// Exceptions kept per batch by default.
pub const DEFAULT_MAX_EXCEPTIONS: usize = 50;
/// Log items kept per batch by default.
pub const DEFAULT_MAX_LOGS: usize = 200;
/// Custom events kept per batch by default.
pub const DEFAULT_MAX_EVENTS: usize = 200;
/// Browser spans kept per batch by default.
pub const DEFAULT_MAX_SPANS: usize = 500;
/// Stack frames kept per exception by default.
pub const DEFAULT_MAX_FRAMES: usize = 50;
/// Keys kept per context or attribute map (and events per span) by default.
pub const DEFAULT_MAX_MAP_KEYS: usize = 32;
/// Bytes kept of each browser string by default.
pub const DEFAULT_MAX_STRING_BYTES: usize = 2048;
/// The most [`BatchLimits::string_bytes`] accepts.
pub const MAX_STRING_BYTES: usize = 2048;
/// The longest rendered stack trace, in bytes.
pub const MAX_STACK_BYTES: usize = 4096;
/// Bytes kept of names, ids and the short per-item copies of batch-wide fields.
pub const SHORT_FIELD_BYTES: usize = 128;
/// No log line the receiver writes is longer than this, in bytes, whatever the batch holds
/// (with the JSON log format of `obs-core`, outside any span with long fields of its own).
pub const MAX_LOG_LINE_BYTES: usize = 16 * 1024;

/// How many client addresses the per-client limiter remembers (in each of two generations).
const CLIENT_CAPACITY: usize = 10_000;

/// How many idempotency keys and web-vital ids are remembered.
const DEDUPE_CAPACITY: usize = 10_000;
/// How long idempotency keys and web-vital ids are remembered.
const DEDUPE_TTL: Duration = Duration::from_secs(600);
