//! The core of obs: one call that wires JSON logs with trace ids, OTLP trace export and Grafana
//! Loki from the standard `OTEL_*` environment variables, and a Prometheus registry holding
//! metrics named after the OpenTelemetry semantic conventions.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! fn main() -> Result<(), obs_core::Error> {
//!     // Reads OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT, RUST_LOG, LOKI_URL, ...
//!     let telemetry = obs_core::Telemetry::from_env("todo-backend")
//!         .service_version(env!("CARGO_PKG_VERSION"))
//!         .shutdown_timeout(Duration::from_secs(3))
//!         .init()?;
//!
//!     let span = tracing::info_span!("startup");
//!     let _entered = span.enter();
//!     // {"timestamp":"…","level":"INFO","message":"ready","trace_id":"4bf9…","span_id":"00f0…",…}
//!     tracing::info!(port = 8080, "ready");
//!
//!     // Hand `telemetry.metrics()` to obs-axum, obs-sqlx and obs-redis; serve it on /metrics.
//!     print!("{}", telemetry.metrics().encode()?);
//!     Ok(())
//!     // `telemetry` drops here: queued spans and log lines are flushed, within 3 s.
//! }
//! ```
//!
//! # Configuration
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SERVICE_NAME` | service name | the name given to [`Telemetry::from_env`] |
//! | `OTEL_RESOURCE_ATTRIBUTES` | extra resource attributes, `k=v,k=v` | none |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | collector URL; spans are exported only when set | none |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` | `grpc` or `http/protobuf` | `grpc` |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | sampler and ratio | `parentbased_always_on` |
//! | `OTEL_SDK_DISABLED` | `true` turns tracing off, logs stay | `false` |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT` (`_TRACES_TIMEOUT`) | longest one export may take, ms | `OTEL_BSP_EXPORT_TIMEOUT`, else 3000 |
//! | `OTEL_EXPORTER_OTLP_COMPRESSION` (`_TRACES_COMPRESSION`) | `gzip` or `none`, on either transport | `none` |
//! | `OTEL_EXPORTER_OTLP_HEADERS` (`_TRACES_HEADERS`) | `key=value,...` sent with every export (and by the RUM span forwarder) | none |
//! | `OTEL_EXPORTER_OTLP_CERTIFICATE` (`_TRACES_CERTIFICATE`) | PEM file of CA certificates trusted for an `https://` collector (a private CA), on either transport, besides the system's and the webpki roots | the system's and the webpki roots |
//! | `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` (`_TRACES_CLIENT_CERTIFICATE`), `OTEL_EXPORTER_OTLP_CLIENT_KEY` (`_TRACES_CLIENT_KEY`) | PEM files of the client certificate (then any intermediates) and its unencrypted private key, presented to a collector that requires mutual TLS, on either transport; both or neither | none |
//! | `OTEL_TRACES_EXPORTER` | `otlp`, `console` (JSON lines where logs go) or `none` | `otlp` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `b3` (Zipkin's single header), `b3multi` (`X-B3-*` headers; [`B3Propagator`]), `none` | `tracecontext,baggage` |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_EXPORT_TIMEOUT` | batch span processor | 500 ms, 2048, 512, 3000 ms |
//! | `RUST_LOG` | log filter (stdout and Loki) | `info` |
//! | `OBS_TRACE_FILTER` | span filter for OTLP export, separate so `RUST_LOG=warn` keeps traces and trace ids | `info` |
//! | `OBS_LOG_FORMAT` | `json` or `pretty` | JSON unless stdout is a terminal |
//! | `LOKI_URL` | Loki base URL; lines are pushed when set | none |
//! | `OBS_INSTANCE_ID` | instance id in metrics, logs, traces | the host name |
//!
//! Each has a [`TelemetryBuilder`] method that wins over the variable. A bad value is an
//! [`Error::InvalidConfig`] that names the variable; nothing panics.
//!
//! # Metrics
//!
//! [`Metrics`] wraps a [`prometheus::Registry`] (a new one, or the application's own) and holds
//! the families every obs crate records into. All names live in [`names`].
//!
//! | name | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram | `http_request_method`, `http_route`, `http_response_status_code`, `error_type` |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `http_server_request_body_size_bytes`, `http_server_response_body_size_bytes` | histogram | method, route, status |
//! | `db_client_operation_duration_seconds` | histogram | `db_system_name`, `db_operation_name`, `db_collection_name`, `error_type` |
//! | `db_client_connection_wait_time_seconds` | histogram | `db_client_connection_pool_name` |
//! | `db_client_connection_timeouts_total` | counter | `db_client_connection_pool_name` |
//! | `obs_build_info` | gauge (1) | `service_name`, `service_version`, `service_instance_id` |
//! | `obs_loki_sent_lines_total`, `obs_loki_dropped_lines_total` | counter | — |
//! | `browser_web_vital_{lcp,fcp,inp,ttfb}_seconds`, `browser_web_vital_cls` | histogram | `app_name`, `page_route`, `rating` |
//! | `browser_exceptions_total`, `browser_events_total` | counter | `app_name`, `error_type` / `event_name` |
//! | `obs_rum_items_received_total`, `obs_rum_requests_rejected_total`, `obs_rum_items_dropped_total` | counter | `kind` / `reason` |
//! | `http_client_request_duration_seconds` | histogram | `http_request_method`, `server_address`, `server_port`, `http_response_status_code`, `error_type` |
//! | `tokio_runtime_workers`, `tokio_runtime_alive_tasks`, `tokio_runtime_global_queue_depth` | gauge, read at scrape ([`Metrics::runtime`]) | — |
//! | `tokio_runtime_busy_seconds_total` | counter, summed over workers | — |
//! | `tokio_runtime_scheduling_delay_seconds` | histogram, from a probe task | — |
//! | `tokio_runtime_worker_local_queue_depth`, `tokio_runtime_blocking_*`, `tokio_runtime_spawned_tasks_total`, `tokio_runtime_budget_forced_yield_total` | under `--cfg tokio_unstable` only | `worker` (local queue) |
//! | `process_*` | process collector (Linux) | — |
//!
//! # Exemplars
//!
//! The buckets of `http_server_request_duration_seconds` and
//! `db_client_operation_duration_seconds` keep the trace and span id of a recent sampled
//! observation ([`ExemplarHistogram`]): obs-axum passes the server span, obs-sqlx and
//! obs-redis the operation's client span. [`Metrics::encode_openmetrics`] writes them in the
//! OpenMetrics 1.0 text format (`… 3 # {trace_id="4bf9…",span_id="00f0…"} 0.042 1718000000.123`),
//! which obs-axum's `/metrics` serves to scrapers that ask for
//! [`OPENMETRICS_CONTENT_TYPE`](names::OPENMETRICS_CONTENT_TYPE), as Prometheus does by
//! default; [`Metrics::encode`] and the Prometheus text format are unchanged. Prometheus keeps
//! them with `--enable-feature=exemplar-storage`; Grafana links them to the trace through the
//! data source's `exemplarTraceIdDestinations`.
//!
//! An unsampled observation costs what a plain histogram observation costs; a sampled one adds
//! a bucket search, a clock read and an uncontended `try_lock` (about 50 ns, see
//! `benches/benches/exemplars.rs`). Learning whether a `tracing` span is sampled
//! ([`SampledSpan::of`], what obs-sqlx and obs-redis do per operation) is one span-context
//! lookup, about 85 ns; obs-axum reuses the one it makes for `traceresponse`. A slot taken by
//! a scrape or another request is skipped, never waited for. One slot per bucket and series:
//! memory is bounded by the series.
//!
//! # OpenTelemetry names in Prometheus form
//!
//! Each metric is the OpenTelemetry semantic-convention instrument with dots as underscores,
//! the unit as a suffix (`_seconds`, `_bytes`) and `_total` on counters:
//! `http.server.request.duration` is `http_server_request_duration_seconds`,
//! `db.client.connection.timeouts` is `db_client_connection_timeouts_total`. One differs:
//!
//! | OpenTelemetry instrument | Prometheus name | why |
//! |---|---|---|
//! | `db.client.connection.count` | `db_client_connections` | Prometheus reserves `_count` for histograms and summaries; `promtool check metrics` rejects it on a gauge |
//!
//! # Exporters never block the application
//!
//! Spans go through a bounded batch queue, log lines for Loki through a bounded channel; both
//! drop (and count) when full. Exports run on a dedicated background thread with its own Tokio
//! runtime, so they work under any runtime flavour; obs-axum's RUM receiver forwards browser
//! spans from the same runtime. Dropping [`Telemetry`] flushes all of them within the shutdown
//! timeout, also when the collector or Loki is down.
//!
//! # Re-exports
//!
//! [`opentelemetry`], [`opentelemetry_sdk`], [`tracing_opentelemetry`], [`tracing_subscriber`]
//! and [`prometheus`] are re-exported so an application builds against exactly the versions obs
//! uses (a layer given to [`TelemetryBuilder::with_layer`] must be a `tracing-subscriber` layer
//! of the same version).
//!
//! # Feature flags
//!
//! The exporters are features, all on by default. A library that only records metrics and
//! spans (obs-axum, obs-sqlx and obs-redis do) depends on obs-core with
//! `default-features = false` and compiles neither tonic nor reqwest; the application turns
//! on what it exports with.
//!
//! | feature | what it compiles in | default |
//! |---|---|---|
//! | `otlp-grpc` | OTLP span export over gRPC (tonic), plain or TLS, gzip | yes |
//! | `otlp-http` | OTLP span export over HTTP/protobuf (reqwest), plain or TLS, gzip | yes |
//! | `loki` | the Loki log pusher (`LOKI_URL`) | yes |
//! | `process` | the `process_*` families: CPU, memory, file descriptors and the cgroup memory limit (Linux) | yes |
//!
//! The builder methods and variables are the same with any set of features. A setting that
//! needs a feature that is off is an [`Error::InvalidConfig`] naming the setting and the
//! feature: an OTLP endpoint whose transport is not compiled in (unless
//! `OTEL_TRACES_EXPORTER` is `console` or `none`, or the SDK is disabled), or a Loki URL
//! without `loki`. With only `otlp-http` on, the transport defaults to `http/protobuf`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod b3;
mod buckets;
mod build_info;
pub mod config;
mod console;
mod db_metrics;
mod error;
mod exemplars;
pub mod head_sampling;
mod http_client_metrics;
mod http_metrics;
mod log_format;
mod loki;
#[cfg(all(target_os = "linux", feature = "process"))]
mod memory_limit;
mod metrics;
pub mod names;
mod openmetrics;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
mod rum_metrics;
mod runtime;
mod runtime_metrics;
mod telemetry;
pub mod text;
mod tls_files;

pub use b3::{B3Encoding, B3Propagator};
pub use buckets::Buckets;
pub use build_info::BuildInfo;
pub use config::{
    LogFormat, OtlpCompression, OtlpProtocol, Propagator, TraceSampler, TracesExporter,
};
pub use db_metrics::{DbClientMetrics, DbOperationLabels, DbPoolGauges, DbPoolSeries, DbPoolState};
pub use error::Error;
pub use exemplars::{ExemplarHistogram, SampledSpan};
pub use head_sampling::{HeadDecision, HeadSampler, LogSpan};
pub use http_client_metrics::{HttpClientLabels, HttpClientMetrics};
pub use http_metrics::{HttpServerLabels, HttpServerMetrics, HttpServerSeries};
pub use metrics::Metrics;
pub use rum_metrics::{
    BrowserEventLabels, BrowserExceptionLabels, BrowserResourceLabels, NavigationPhaseLabels,
    RumMetrics, WebVitalLabels,
};
#[doc(hidden)]
pub use runtime::{Exporters, ShutdownSignal};
pub use runtime_metrics::{
    DEFAULT_PROBE_INTERVAL, MIN_PROBE_INTERVAL, RuntimeMetrics, RuntimeMetricsBuilder,
};
pub use telemetry::{
    DEFAULT_ENVIRONMENT, DEFAULT_EXPORT_TIMEOUT, DEFAULT_LOG_FILTER, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_SPAN_QUEUE_SIZE, DEFAULT_TRACE_FILTER, Telemetry, TelemetryBuilder,
};

pub use opentelemetry;
pub use opentelemetry_sdk;
pub use prometheus;
pub use tracing_opentelemetry;
/// The `tracing-subscriber` obs builds its subscriber on, for layers given to
/// [`TelemetryBuilder::with_layer`] without a version mismatch.
pub use tracing_subscriber;

/// Installs the default propagators, W3C trace context (`traceparent`, `tracestate`) and
/// baggage, as the global OpenTelemetry propagator: what [`TelemetryBuilder::init`] installs
/// when `OTEL_PROPAGATORS` is unset. [`TelemetryBuilder::init`] installs the configured ones
/// itself; after [`TelemetryBuilder::build`], install [`Telemetry::propagator`] or call this.
/// Idempotent.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(vec![
            Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
            Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
        ]),
    );
}
