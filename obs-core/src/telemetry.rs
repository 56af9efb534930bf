//! [`Telemetry`]: one call that wires logs, traces and metrics, and the guard that flushes them.

use std::fmt;
use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};
use url::Url;

use crate::build_info::BuildInfo;
use crate::config::{
    self, EnvVars, LogFormat, OtlpCompression, OtlpProtocol, Propagator, TraceSampler,
    TracesExporter,
};
use crate::console::{ConsoleExporter, SharedWriter};
use crate::log_format::{JsonFieldList, JsonFormat, LogIdentity};
use crate::loki::{self, LokiShutdown};
use crate::otlp;
use crate::runtime::{ExporterRuntime, NotOnExporterThread};
use crate::{Error, Metrics};

/// How long dropping the guard may take to flush, by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one export may take before it is abandoned, by default.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// Finished spans buffered for export, by default; more are dropped, never waited for.
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 2048;
/// Spans sent in one export when `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` is unset.
const DEFAULT_EXPORT_BATCH_SIZE: usize = 512;
/// Time between two exports when `OTEL_BSP_SCHEDULE_DELAY` is unset: shorter than the
/// specification's 5 s, so traces show up while one still looks at the request.
const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(500);
/// The log filter when neither `RUST_LOG` nor the builder sets one.
pub const DEFAULT_LOG_FILTER: &str = "info";
/// The trace filter when neither `OBS_TRACE_FILTER` nor the builder sets one.
pub const DEFAULT_TRACE_FILTER: &str = "info";
/// The deployment environment when neither the resource attributes nor the builder set one.
pub const DEFAULT_ENVIRONMENT: &str = "development";

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The running telemetry of a service: owns the span exporter, the Loki pusher and the metrics
/// registry. Dropping it (or calling [`shutdown`](Self::shutdown)) flushes spans and log lines,
/// waiting at most the shutdown timeout.
///
/// ```no_run
/// # fn main() -> Result<(), obs_core::Error> {
/// let telemetry = obs_core::Telemetry::from_env("todo-backend")
///     .service_version(env!("CARGO_PKG_VERSION"))
///     .init()?;
/// tracing::info!("started");
/// let exposition = telemetry.metrics().encode()?;
/// # drop(exposition);
/// telemetry.shutdown()?;
/// # Ok(()) }
/// ```
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Telemetry {
    propagators: Vec<Propagator>,
    metrics: Metrics,
    dispatch: Dispatch,
    build_info: BuildInfo,
    tracer_provider: Option<SdkTracerProvider>,
    loki: Option<LokiShutdown>,
    runtime: Option<ExporterRuntime>,
    shutdown_timeout: Duration,
    done: bool,
}

impl Telemetry {
    /// A builder configured from the standard environment variables (see [`crate::config`]),
    /// with `default_service_name` used when `OTEL_SERVICE_NAME` is unset.
    pub fn from_env(default_service_name: impl Into<String>) -> TelemetryBuilder {
        TelemetryBuilder::new(default_service_name.into(), EnvVars::from_process())
    }

    /// A builder that ignores the environment: only builder methods configure it.
    pub fn builder(service_name: impl Into<String>) -> TelemetryBuilder {
        TelemetryBuilder::new(service_name.into(), EnvVars::default())
    }

    /// The metrics registry every obs crate records into.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The `tracing` dispatch holding the configured layers. [`TelemetryBuilder::init`] installs
    /// it globally; after [`TelemetryBuilder::build`] install it yourself, for example with
    /// [`tracing::dispatcher::with_default`].
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// The service identity used in the resource, the log lines and `obs_build_info`.
    pub fn build_info(&self) -> &BuildInfo {
        &self.build_info
    }

    /// The configured context propagators as one: what [`TelemetryBuilder::init`] installs
    /// globally. After [`TelemetryBuilder::build`], extract and inject with it directly.
    pub fn propagator(&self) -> TextMapCompositePropagator {
        let propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = self
            .propagators
            .iter()
            .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
                match p {
                    Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                    Propagator::Baggage => Box::new(BaggagePropagator::new()),
                }
            })
            .collect();
        TextMapCompositePropagator::new(propagators)
    }

    /// The OpenTelemetry tracer provider, unless `OTEL_SDK_DISABLED` turned it off.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// Flushes spans and log lines and stops the exporters, within the shutdown timeout.
    ///
    /// # Errors
    /// [`Error::ShutdownTimeout`] when flushing did not finish in time (the collector or Loki
    /// is unreachable), [`Error::Shutdown`] when the tracer provider could not be shut down.
    /// A final export the collector refuses (a failed TLS handshake, say) is not an error
    /// here: the OpenTelemetry SDK drops export failures while shutting down, as it does
    /// during normal operation.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), Error> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        let deadline = Instant::now() + self.shutdown_timeout;
        let mut result = Ok(());
        if let Some(provider) = self.tracer_provider.take() {
            let left = deadline.saturating_duration_since(Instant::now());
            match provider.shutdown_with_timeout(left) {
                Ok(()) => {}
                Err(opentelemetry_sdk::error::OTelSdkError::Timeout(_)) => {
                    result = Err(Error::ShutdownTimeout(self.shutdown_timeout));
                }
                Err(e) => result = Err(Error::Shutdown(e.to_string())),
            }
        }
        if let Some(mut loki) = self.loki.take()
            && !loki.finish(deadline)
        {
            result = Err(Error::ShutdownTimeout(self.shutdown_timeout));
        }
        if let Some(mut runtime) = self.runtime.take() {
            runtime.stop(deadline);
        }
        result
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            tracing::warn!(error = %e, "telemetry shutdown incomplete");
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("build_info", &self.build_info)
            .field("tracing", &self.tracer_provider.is_some())
            .field("loki", &self.loki.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures [`Telemetry`]. Every setting has an environment variable; a builder method wins
/// over it.
#[must_use]
pub struct TelemetryBuilder {
    default_service_name: String,
    env: EnvVars,
    service_name: Option<String>,
    service_version: Option<String>,
    instance_id: Option<String>,
    environment: Option<String>,
    resource_attributes: Vec<(String, String)>,
    otlp_endpoint: Option<String>,
    otlp_protocol: Option<OtlpProtocol>,
    sampler: Option<TraceSampler>,
    sdk_disabled: Option<bool>,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
    trace_filter: Option<String>,
    log_writer: Option<BoxMakeWriter>,
    loki_url: Option<String>,
    metrics: Option<Metrics>,
    shutdown_timeout: Duration,
    export_timeout: Option<Duration>,
    span_queue_size: Option<usize>,
    otlp_compression: Option<OtlpCompression>,
    otlp_headers: Vec<(String, String)>,
    traces_exporter: Option<TracesExporter>,
    propagators: Option<Vec<Propagator>>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("default_service_name", &self.default_service_name)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    fn new(default_service_name: String, env: EnvVars) -> Self {
        TelemetryBuilder {
            default_service_name,
            env,
            service_name: None,
            service_version: None,
            instance_id: None,
            environment: None,
            resource_attributes: Vec::new(),
            otlp_endpoint: None,
            otlp_protocol: None,
            sampler: None,
            sdk_disabled: None,
            log_format: None,
            log_filter: None,
            trace_filter: None,
            log_writer: None,
            loki_url: None,
            metrics: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            export_timeout: None,
            span_queue_size: None,
            otlp_compression: None,
            otlp_headers: Vec::new(),
            traces_exporter: None,
            propagators: None,
        }
    }

    /// The service name. Defaults to `OTEL_SERVICE_NAME`, then `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, then the name given to [`Telemetry::from_env`].
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The service version, usually `env!("CARGO_PKG_VERSION")`. Defaults to `service.version`
    /// in `OTEL_RESOURCE_ATTRIBUTES`, then `unknown`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(version.into());
        self
    }

    /// The instance id. Defaults to `OBS_INSTANCE_ID`, then `service.instance.id` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, then the host name.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// `deployment.environment.name`. Defaults to the resource attributes, then `development`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Adds a resource attribute; wins over the same key in `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// The collector's base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (`http://localhost:4317` for gRPC, `http://localhost:4318` for HTTP, where
    /// `/v1/traces` is appended). Defaults to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
    /// given), then `OTEL_EXPORTER_OTLP_ENDPOINT`; without any, spans are not exported.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(url.into());
        self
    }

    /// The OTLP transport. Defaults to `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, then gRPC.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.otlp_protocol = Some(protocol);
        self
    }

    /// The sampler. Defaults to `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`), then
    /// parent-based always-on.
    pub fn sampler(mut self, sampler: TraceSampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Turns the OpenTelemetry SDK off (no spans, no trace ids in logs); logs stay on.
    /// Defaults to `OTEL_SDK_DISABLED`, then `false`.
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.sdk_disabled = Some(disabled);
        self
    }

    /// The stdout log format. Defaults to `OBS_LOG_FORMAT`, then JSON unless stdout is a
    /// terminal.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.log_format = Some(format);
        self
    }

    /// The `tracing` filter directives for log lines (stdout and Loki), such as
    /// `info,sqlx=warn`. Spans exported over OTLP have their own filter,
    /// [`trace_filter`](Self::trace_filter). Defaults to `RUST_LOG`, then `info`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }

    /// The `tracing` filter directives for spans exported over OTLP. Separate from the log
    /// filter, so a quiet `RUST_LOG=warn` keeps every `INFO` server and database span, and log
    /// lines written inside them keep their `trace_id` and `span_id`. Defaults to
    /// `OBS_TRACE_FILTER`, then `info`.
    pub fn trace_filter(mut self, directives: impl Into<String>) -> Self {
        self.trace_filter = Some(directives.into());
        self
    }

    /// Where log lines are written. Defaults to stdout.
    pub fn log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// The Loki base URL (`http://loki:3100`). Defaults to `LOKI_URL`; without it, no push.
    ///
    /// Lines wait for Loki in a queue bounded by
    /// [`LOKI_QUEUE_LINES`](crate::names::LOKI_QUEUE_LINES) lines and
    /// [`LOKI_QUEUE_BYTES`](crate::names::LOKI_QUEUE_BYTES) bytes; a line that does not fit is
    /// dropped and counted in `obs_loki_dropped_lines_total`. A line longer than
    /// [`LOKI_MAX_LINE_BYTES`](crate::names::LOKI_MAX_LINE_BYTES) is cut.
    pub fn loki_url(mut self, url: impl Into<String>) -> Self {
        self.loki_url = Some(url.into());
        self
    }

    /// Records into this registry handle instead of a new one.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Records into a Prometheus registry the application already owns.
    pub fn registry(self, registry: prometheus::Registry) -> Self {
        self.metrics(Metrics::with_registry(registry))
    }

    /// The longest shutdown may wait for flushing. Defaults to 5 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The longest one span export may take. Defaults to `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`,
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`, then `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds), then 3 s.
    pub fn export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = Some(timeout);
        self
    }

    /// Finished spans buffered for export; when full, new spans are dropped. Defaults to
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, then 2048.
    pub fn span_queue_size(mut self, size: usize) -> Self {
        self.span_queue_size = Some(size.max(1));
        self
    }

    /// Compresses span exports, on either transport. Defaults to
    /// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, `OTEL_EXPORTER_OTLP_COMPRESSION`, then none.
    pub fn otlp_compression(mut self, compression: OtlpCompression) -> Self {
        self.otlp_compression = Some(compression);
        self
    }

    /// Sends a header (gRPC metadata) with every span export, such as an API key for a
    /// hosted collector. Added to those of `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or
    /// `OTEL_EXPORTER_OTLP_HEADERS`; the builder's value wins for the same key.
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp_headers.push((key.into(), value.into()));
        self
    }

    /// Where spans go: OTLP, the console, or nowhere. Defaults to `OTEL_TRACES_EXPORTER`, then
    /// OTLP (which exports only when an endpoint is set).
    pub fn traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.traces_exporter = Some(exporter);
        self
    }

    /// The context propagators [`init`](Self::init) installs and
    /// [`Telemetry::propagator`] returns. Defaults to `OTEL_PROPAGATORS`, then W3C trace
    /// context and baggage.
    pub fn propagators(mut self, propagators: impl IntoIterator<Item = Propagator>) -> Self {
        self.propagators = Some(propagators.into_iter().collect());
        self
    }

    /// Builds everything and installs it globally: the `tracing` subscriber, the W3C
    /// trace-context propagator and the tracer provider.
    ///
    /// # Errors
    /// A bad setting (the message names the variable), or a global subscriber already set.
    pub fn init(self) -> Result<Telemetry, Error> {
        let telemetry = self.build()?;
        tracing::dispatcher::set_global_default(telemetry.dispatch.clone())
            .map_err(|_| Error::AlreadyInitialized)?;
        opentelemetry::global::set_text_map_propagator(telemetry.propagator());
        if let Some(provider) = &telemetry.tracer_provider {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        Ok(telemetry)
    }

    /// Builds everything without installing anything globally; see [`Telemetry::dispatch`].
    ///
    /// For tests and for running several services in one process. A service uses
    /// [`init`](Self::init): `tracing-subscriber` closes a parent span through the default
    /// subscriber of the thread where its last child ends, so with a dispatch that is only a
    /// thread's default, a request span whose child ends on another thread (SQLite's connection
    /// threads, a task on another worker) is never closed nor exported.
    ///
    /// # Errors
    /// A bad setting; the message names the variable or builder method.
    pub fn build(self) -> Result<Telemetry, Error> {
        let settings = self.resolve()?;
        let metrics = self.metrics.unwrap_or_default();
        match metrics.register_build_info(&settings.build_info) {
            Ok(()) | Err(Error::Prometheus(prometheus::Error::AlreadyReg)) => {}
            Err(e) => return Err(e),
        }

        let exports_otlp =
            settings.otlp.is_some() && settings.export.exporter == TracesExporter::Otlp;
        let runtime = if exports_otlp || settings.loki_url.is_some() {
            Some(ExporterRuntime::start()?)
        } else {
            None
        };
        let identity = LogIdentity {
            service: settings.build_info.service_name.clone(),
            instance: settings.build_info.service_instance_id.clone(),
            dispatch: Arc::new(OnceLock::new()),
        };

        let dispatch_slot = Arc::clone(&identity.dispatch);
        let mut layers: Vec<BoxedLayer> = Vec::with_capacity(3);
        // Shared with the console span exporter, so spans land where the log lines go.
        let writer = SharedWriter(Arc::new(
            self.log_writer
                .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout)),
        ));
        layers.push(match settings.log_format {
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFieldList)
                .event_format(JsonFormat {
                    identity: identity.clone(),
                })
                .with_writer(writer.clone())
                .with_filter(env_filter(&settings.log_filter))
                .boxed(),
            LogFormat::Pretty => tracing_subscriber::fmt::layer()
                .with_writer(writer.clone())
                .with_ansi(std::io::stdout().is_terminal())
                .with_filter(env_filter(&settings.log_filter))
                .boxed(),
        });

        let tracer_provider = if settings.sdk_disabled {
            None
        } else {
            let mut provider = SdkTracerProvider::builder()
                .with_sampler(settings.sampler.to_sdk())
                .with_resource(settings.resource.clone());
            let export = &settings.export;
            let batch = || {
                BatchConfigBuilder::default()
                    .with_max_queue_size(export.queue_size)
                    .with_max_export_batch_size(export.batch_size)
                    .with_scheduled_delay(export.schedule_delay)
                    .build()
            };
            match (export.exporter, &settings.otlp, &runtime) {
                (TracesExporter::Otlp, Some((endpoint, protocol)), Some(runtime)) => {
                    let exporter =
                        otlp::build_exporter(endpoint, *protocol, export, runtime.handle())?;
                    provider = provider.with_span_processor(
                        BatchSpanProcessor::builder(exporter)
                            .with_batch_config(batch())
                            .build(),
                    );
                }
                (TracesExporter::Console, _, _) => {
                    provider = provider.with_span_processor(
                        BatchSpanProcessor::builder(ConsoleExporter::new(writer.clone()))
                            .with_batch_config(batch())
                            .build(),
                    );
                }
                _ => {}
            }
            let provider = provider.build();
            let tracer = provider.tracer("obs");
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_tracked_inactivity(false)
                    .with_threads(false)
                    .with_filter(NotOnExporterThread.and(env_filter(&settings.trace_filter)))
                    .boxed(),
            );
            Some(provider)
        };

        let loki = match (&settings.loki_url, &runtime) {
            (Some(url), Some(runtime)) => {
                let counters = metrics.loki_counters()?;
                let (layer, shutdown) = loki::start(url, identity, counters, runtime.handle())?;
                layers.push(layer.with_filter(env_filter(&settings.log_filter)).boxed());
                Some(shutdown)
            }
            _ => None,
        };

        // Logs and traces filter separately: each layer carries its own filter.
        let subscriber = Registry::default().with(layers);
        let dispatch = Dispatch::new(subscriber);
        let _ = dispatch_slot.set(dispatch.downgrade());
        Ok(Telemetry {
            propagators: settings.propagators,
            metrics,
            dispatch,
            build_info: settings.build_info,
            tracer_provider,
            loki,
            runtime,
            shutdown_timeout: self.shutdown_timeout,
            done: false,
        })
    }

    /// Resolves every setting: builder first, then environment, then default.
    fn resolve(&self) -> Result<Settings, Error> {
        let env = &self.env;
        let mut attributes = env.resource_attributes()?;
        attributes.extend(self.resource_attributes.iter().cloned());
        let attr = |key: &str| {
            attributes
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };

        let service_name = self
            .service_name
            .clone()
            .or_else(|| env.get(config::OTEL_SERVICE_NAME).map(str::to_owned))
            .or_else(|| attr("service.name"))
            .unwrap_or_else(|| self.default_service_name.clone());
        let service_version = self
            .service_version
            .clone()
            .or_else(|| attr("service.version"))
            .unwrap_or_else(|| "unknown".to_owned());
        let instance_id = self
            .instance_id
            .clone()
            .or_else(|| env.get(config::OBS_INSTANCE_ID).map(str::to_owned))
            .or_else(|| attr("service.instance.id"))
            .unwrap_or_else(config::hostname);
        let environment = self
            .environment
            .clone()
            .or_else(|| attr("deployment.environment.name"))
            .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());

        let protocol = match self.otlp_protocol {
            Some(p) => p,
            None => env.protocol()?.unwrap_or_default(),
        };
        let otlp = self
            .resolve_otlp_endpoint(protocol)?
            .map(|url| (url, protocol));
        let sampler = match self.sampler {
            Some(s) => s,
            None => env.sampler()?.unwrap_or(TraceSampler::ParentBasedAlwaysOn),
        };
        let sdk_disabled = match self.sdk_disabled {
            Some(d) => d,
            None => env.sdk_disabled()?.unwrap_or(false),
        };
        let export = self.resolve_export()?;
        let propagators = match &self.propagators {
            Some(p) => p.clone(),
            None => env
                .propagators()?
                .unwrap_or_else(|| vec![Propagator::TraceContext, Propagator::Baggage]),
        };
        let log_format = match self.log_format {
            Some(f) => f,
            None => env
                .log_format()?
                .unwrap_or(if std::io::stdout().is_terminal() {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }),
        };
        let log_filter = filter_directives(
            ("TelemetryBuilder::log_filter", self.log_filter.as_deref()),
            (config::RUST_LOG, env.get(config::RUST_LOG)),
            DEFAULT_LOG_FILTER,
        )?;
        let trace_filter = filter_directives(
            (
                "TelemetryBuilder::trace_filter",
                self.trace_filter.as_deref(),
            ),
            (config::OBS_TRACE_FILTER, env.get(config::OBS_TRACE_FILTER)),
            DEFAULT_TRACE_FILTER,
        )?;
        let loki_url = match (&self.loki_url, env.get(config::LOKI_URL)) {
            (Some(url), _) => Some(config::parse_http_url("TelemetryBuilder::loki_url", url)?),
            (None, Some(url)) => Some(config::parse_http_url(config::LOKI_URL, url)?),
            (None, None) => None,
        };

        let build_info = BuildInfo {
            service_name,
            service_version,
            service_instance_id: instance_id,
        };
        let reserved = [
            "service.name",
            "service.version",
            "service.instance.id",
            "deployment.environment.name",
        ];
        let resource = Resource::builder_empty()
            .with_detector(Box::new(
                opentelemetry_sdk::resource::TelemetryResourceDetector,
            ))
            .with_attributes(
                attributes
                    .iter()
                    .filter(|(k, _)| !reserved.contains(&k.as_str()))
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .with_service_name(build_info.service_name.clone())
            .with_attributes([
                KeyValue::new("service.version", build_info.service_version.clone()),
                KeyValue::new(
                    "service.instance.id",
                    build_info.service_instance_id.clone(),
                ),
                KeyValue::new("deployment.environment.name", environment),
            ])
            .build();

        Ok(Settings {
            build_info,
            resource,
            otlp,
            sampler,
            sdk_disabled,
            log_format,
            log_filter,
            trace_filter,
            loki_url,
            export,
            propagators,
        })
    }

    /// How spans are exported: builder first, then the signal's variable, then the general
    /// one, then the batch processor's, then our default.
    fn resolve_export(&self) -> Result<ExportSettings, Error> {
        let env = &self.env;
        let bsp = env.bsp()?;
        let mut headers = env.headers()?;
        for (key, value) in &self.otlp_headers {
            let checked = config::parse_headers(
                "TelemetryBuilder::otlp_header",
                &format!("{key}={}", value.replace('%', "%25").replace(',', "%2C")),
            )?;
            for (key, value) in checked {
                headers.retain(|(k, _)| *k != key);
                headers.push((key, value));
            }
        }
        let queue_size = self
            .span_queue_size
            .or(bsp.max_queue_size)
            .unwrap_or(DEFAULT_SPAN_QUEUE_SIZE);
        Ok(ExportSettings {
            exporter: match self.traces_exporter {
                Some(e) => e,
                None => env.traces_exporter()?.unwrap_or_default(),
            },
            timeout: match self.export_timeout {
                Some(t) => t,
                None => env
                    .export_timeout()?
                    .or(bsp.export_timeout)
                    .unwrap_or(DEFAULT_EXPORT_TIMEOUT),
            },
            compression: match self.otlp_compression {
                Some(c) => c,
                None => env.compression()?.unwrap_or_default(),
            },
            headers,
            queue_size,
            batch_size: bsp
                .max_export_batch_size
                .unwrap_or(DEFAULT_EXPORT_BATCH_SIZE)
                .min(queue_size),
            schedule_delay: bsp.schedule_delay.unwrap_or(DEFAULT_SCHEDULE_DELAY),
        })
    }

    /// The full URL spans go to, if any.
    fn resolve_otlp_endpoint(&self, protocol: OtlpProtocol) -> Result<Option<Url>, Error> {
        let (setting, value, is_base) = if let Some(url) = &self.otlp_endpoint {
            ("TelemetryBuilder::otlp_endpoint", url.as_str(), true)
        } else if let Some(url) = self.env.get(config::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
            (config::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, url, false)
        } else if let Some(url) = self.env.get(config::OTEL_EXPORTER_OTLP_ENDPOINT) {
            (config::OTEL_EXPORTER_OTLP_ENDPOINT, url, true)
        } else {
            return Ok(None);
        };
        let mut url = config::parse_http_url(setting, value)?;
        // The spec: a base endpoint gets the signal path appended for HTTP; gRPC has no path.
        if is_base && protocol == OtlpProtocol::HttpProtobuf {
            let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
            url.set_path(&path);
        }
        Ok(Some(url))
    }
}

/// Every setting after resolution.
struct Settings {
    build_info: BuildInfo,
    resource: Resource,
    otlp: Option<(Url, OtlpProtocol)>,
    sampler: TraceSampler,
    sdk_disabled: bool,
    log_format: LogFormat,
    /// Directives checked by [`filter_directives`], so building a filter from them cannot fail.
    log_filter: String,
    trace_filter: String,
    loki_url: Option<Url>,
    export: ExportSettings,
    propagators: Vec<Propagator>,
}

/// How spans leave the process, after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportSettings {
    pub(crate) exporter: TracesExporter,
    pub(crate) timeout: Duration,
    pub(crate) compression: OtlpCompression,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) queue_size: usize,
    pub(crate) batch_size: usize,
    pub(crate) schedule_delay: Duration,
}

/// The first of the builder's and the variable's directives that is set, checked, else
/// `default`. An error names where the bad directives came from.
fn filter_directives(
    builder: (&'static str, Option<&str>),
    env: (&'static str, Option<&str>),
    default: &str,
) -> Result<String, Error> {
    let (source, directives) = match (builder, env) {
        ((source, Some(d)), _) | (_, (source, Some(d))) => (source, d),
        _ => return Ok(default.to_owned()),
    };
    EnvFilter::try_new(directives)
        .map_err(|e| Error::invalid(source, directives, e.to_string()))?;
    Ok(directives.to_owned())
}

/// A filter from directives [`filter_directives`] accepted.
fn env_filter(directives: &str) -> EnvFilter {
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::*;

    fn builder(vars: &[(&'static str, &str)]) -> TelemetryBuilder {
        TelemetryBuilder::new("default-svc".into(), EnvVars::from_pairs(vars))
    }

    #[test]
    fn builder_wins_over_env_and_env_over_default() {
        let b = builder(&[
            (OTEL_SERVICE_NAME, "env-svc"),
            (OBS_INSTANCE_ID, "env-1"),
            (
                OTEL_RESOURCE_ATTRIBUTES,
                "service.version=9.9,deployment.environment.name=staging",
            ),
        ]);
        let s = b.resolve().unwrap();
        assert_eq!(s.build_info.service_name, "env-svc");
        assert_eq!(s.build_info.service_instance_id, "env-1");
        assert_eq!(s.build_info.service_version, "9.9");
        let s = builder(&[(OTEL_SERVICE_NAME, "env-svc")])
            .service_name("code-svc")
            .instance_id("code-1")
            .resolve()
            .unwrap();
        assert_eq!(s.build_info.service_name, "code-svc");
        assert_eq!(s.build_info.service_instance_id, "code-1");
        let s = builder(&[]).resolve().unwrap();
        assert_eq!(s.build_info.service_name, "default-svc");
        assert_eq!(s.build_info.service_version, "unknown");
        assert!(s.otlp.is_none());
        assert!(s.loki_url.is_none());
    }

    #[test]
    fn http_base_endpoint_gets_the_traces_path() {
        let s = builder(&[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
        ])
        .resolve()
        .unwrap();
        let (url, protocol) = s.otlp.unwrap();
        assert_eq!(url.as_str(), "http://collector:4318/v1/traces");
        assert_eq!(protocol, OtlpProtocol::HttpProtobuf);

        let s = builder(&[
            (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "https://c:4318/custom"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.otlp.unwrap().0.as_str(), "https://c:4318/custom");

        let s = builder(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317")])
            .resolve()
            .unwrap();
        let (url, protocol) = s.otlp.unwrap();
        assert_eq!(url.as_str(), "http://collector:4317/");
        assert_eq!(protocol, OtlpProtocol::Grpc);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&'static str, &str)], &str)] = &[
            (
                &[(OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4317")],
                OTEL_EXPORTER_OTLP_ENDPOINT,
            ),
            (&[(LOKI_URL, "::nope")], LOKI_URL),
            (&[(RUST_LOG, "info,[=bad")], RUST_LOG),
            (&[(OBS_LOG_FORMAT, "xml")], OBS_LOG_FORMAT),
            (
                &[
                    (OTEL_TRACES_SAMPLER, "traceidratio"),
                    (OTEL_TRACES_SAMPLER_ARG, "abc"),
                ],
                OTEL_TRACES_SAMPLER_ARG,
            ),
            (
                &[(OTEL_EXPORTER_OTLP_PROTOCOL, "udp")],
                OTEL_EXPORTER_OTLP_PROTOCOL,
            ),
            (&[(OTEL_RESOURCE_ATTRIBUTES, "a")], OTEL_RESOURCE_ATTRIBUTES),
        ];
        for (vars, name) in cases {
            let err = match builder(vars).build() {
                Ok(_) => panic!("{vars:?} was accepted"),
                Err(e) => e,
            };
            assert!(err.to_string().contains(name), "{name}: {err}");
        }
    }

    #[test]
    fn export_settings_come_from_otel_variables() {
        let s = builder(&[
            (OTEL_EXPORTER_OTLP_TIMEOUT, "7000"),
            (OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, "1500"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (OTEL_EXPORTER_OTLP_HEADERS, "api-key=abc%2C1,X-Tenant=acme"),
            (OTEL_TRACES_EXPORTER, "console"),
            (OTEL_PROPAGATORS, "baggage"),
            (OTEL_BSP_SCHEDULE_DELAY, "250"),
            (OTEL_BSP_MAX_QUEUE_SIZE, "100"),
            (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, "1000"),
        ])
        .resolve()
        .unwrap();
        let e = s.export;
        assert_eq!(e.timeout, Duration::from_millis(1500));
        assert_eq!(e.compression, OtlpCompression::Gzip);
        assert_eq!(
            e.headers,
            [
                ("api-key".to_owned(), "abc,1".to_owned()),
                ("x-tenant".to_owned(), "acme".to_owned())
            ]
        );
        assert_eq!(e.exporter, TracesExporter::Console);
        assert_eq!(e.schedule_delay, Duration::from_millis(250));
        assert_eq!(e.queue_size, 100);
        // A batch is never larger than the queue.
        assert_eq!(e.batch_size, 100);
        assert_eq!(s.propagators, [Propagator::Baggage]);
    }

    #[test]
    fn export_settings_defaults_and_builder_precedence() {
        let e = builder(&[]).resolve().unwrap().export;
        assert_eq!(
            e,
            ExportSettings {
                exporter: TracesExporter::Otlp,
                timeout: DEFAULT_EXPORT_TIMEOUT,
                compression: OtlpCompression::None,
                headers: Vec::new(),
                queue_size: DEFAULT_SPAN_QUEUE_SIZE,
                batch_size: 512,
                schedule_delay: Duration::from_millis(500),
            }
        );
        let s = builder(&[]).resolve().unwrap();
        assert_eq!(
            s.propagators,
            [Propagator::TraceContext, Propagator::Baggage]
        );
        let s = builder(&[
            (OTEL_BSP_EXPORT_TIMEOUT, "9000"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (OTEL_EXPORTER_OTLP_HEADERS, "k=env"),
            (OTEL_TRACES_EXPORTER, "console"),
            (OTEL_PROPAGATORS, "none"),
        ]);
        let e = s.resolve().unwrap().export;
        assert_eq!(e.timeout, Duration::from_millis(9000));
        let s = builder(&[
            (OTEL_BSP_EXPORT_TIMEOUT, "9000"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (OTEL_EXPORTER_OTLP_HEADERS, "k=env,j=kept"),
            (OTEL_TRACES_EXPORTER, "console"),
            (OTEL_PROPAGATORS, "none"),
        ])
        .export_timeout(Duration::from_secs(1))
        .otlp_compression(OtlpCompression::None)
        .otlp_header("K", "code")
        .traces_exporter(TracesExporter::None)
        .span_queue_size(10)
        .resolve()
        .unwrap();
        assert!(s.propagators.is_empty());
        let e = s.export;
        assert_eq!(e.timeout, Duration::from_secs(1));
        assert_eq!(e.compression, OtlpCompression::None);
        assert_eq!(
            e.headers,
            [
                ("j".to_owned(), "kept".to_owned()),
                ("k".to_owned(), "code".to_owned())
            ]
        );
        assert_eq!(e.exporter, TracesExporter::None);
        assert_eq!((e.queue_size, e.batch_size), (10, 10));
    }

    #[test]
    fn bad_export_settings_name_their_variable() {
        for (name, value) in [
            (OTEL_EXPORTER_OTLP_TIMEOUT, "10s"),
            (OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, "zstd"),
            (OTEL_EXPORTER_OTLP_HEADERS, "novalue"),
            (OTEL_EXPORTER_OTLP_TRACES_HEADERS, "bad key=1"),
            (OTEL_EXPORTER_OTLP_HEADERS, "k=%ZZ"),
            (OTEL_TRACES_EXPORTER, "zipkin"),
            (OTEL_TRACES_EXPORTER, "otlp,console"),
            (OTEL_PROPAGATORS, "tracecontext,b3"),
            (OTEL_PROPAGATORS, "carrier-pigeon"),
            (OTEL_BSP_SCHEDULE_DELAY, "-1"),
            (OTEL_BSP_MAX_QUEUE_SIZE, "0"),
        ] {
            let err = match builder(&[(name, value)]).resolve() {
                Ok(_) => panic!("{name}={value} accepted"),
                Err(err) => err.to_string(),
            };
            assert!(err.contains(name), "{name}={value}: {err}");
        }
        let err = match builder(&[]).otlp_header("x", "line\nbreak\u{7}").resolve() {
            Ok(_) => panic!("accepted a control character"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains("TelemetryBuilder::otlp_header"), "{err}");
    }
}
