//! [`TelemetryBuilder`]: the setters, and `build`/`init`, which resolve the settings, assemble
//! the subscriber and hand everything to the guard.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::{Layer, Registry};

use super::settings::{Overrides, Settings};
use super::subscriber::{self, BoxedLayer, Subscriber};
use super::{DEFAULT_SHUTDOWN_TIMEOUT, Telemetry};
use crate::config::{
    EnvVars, LogFormat, OtlpCompression, OtlpProtocol, Propagator, TraceSampler, TracesExporter,
};
use crate::console::SharedWriter;
use crate::runtime::Exporters;
use crate::{Error, Metrics};

/// Configures [`Telemetry`]. Every setting has an environment variable; a builder method wins
/// over it.
#[must_use]
pub struct TelemetryBuilder {
    default_service_name: String,
    env: EnvVars,
    /// Every setting that an environment variable also sets.
    overrides: Overrides,
    log_writer: Option<BoxMakeWriter>,
    metrics: Option<Metrics>,
    shutdown_timeout: Duration,
    /// The application's own layers, added after obs's.
    layers: Vec<BoxedLayer>,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryBuilder")
            .field("default_service_name", &self.default_service_name)
            .field("env", &self.env)
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder {
    pub(super) fn new(default_service_name: String, env: EnvVars) -> Self {
        TelemetryBuilder {
            default_service_name,
            env,
            overrides: Overrides::default(),
            log_writer: None,
            metrics: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            layers: Vec::new(),
        }
    }

    /// The service name. Defaults to `OTEL_SERVICE_NAME`, then `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, then the name given to [`Telemetry::from_env`].
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// The service version, usually `env!("CARGO_PKG_VERSION")`. Defaults to `service.version`
    /// in `OTEL_RESOURCE_ATTRIBUTES`, then `unknown`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.overrides.service_version = Some(version.into());
        self
    }

    /// The instance id. Defaults to `OBS_INSTANCE_ID`, then `service.instance.id` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, then the host name.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.overrides.instance_id = Some(id.into());
        self
    }

    /// `deployment.environment.name`. Defaults to the resource attributes, then `development`.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.overrides.environment = Some(environment.into());
        self
    }

    /// Adds a resource attribute; wins over the same key in `OTEL_RESOURCE_ATTRIBUTES`.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides
            .resource_attributes
            .push((key.into(), value.into()));
        self
    }

    /// The collector's base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// (`http://localhost:4317` for gRPC, `http://localhost:4318` for HTTP, where
    /// `/v1/traces` is appended). Defaults to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
    /// given), then `OTEL_EXPORTER_OTLP_ENDPOINT`; without any, spans are not exported.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.overrides.otlp_endpoint = Some(url.into());
        self
    }

    /// The OTLP transport. Defaults to `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, then gRPC (HTTP/protobuf when only the `otlp-http`
    /// feature is on). Exporting over a transport whose feature is off is an error.
    pub fn otlp_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.overrides.otlp_protocol = Some(protocol);
        self
    }

    /// The sampler. Defaults to `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`), then
    /// parent-based always-on.
    pub fn sampler(mut self, sampler: TraceSampler) -> Self {
        self.overrides.sampler = Some(sampler);
        self
    }

    /// Turns the OpenTelemetry SDK off (no spans, no trace ids in logs); logs stay on.
    /// Defaults to `OTEL_SDK_DISABLED`, then `false`.
    pub fn sdk_disabled(mut self, disabled: bool) -> Self {
        self.overrides.sdk_disabled = Some(disabled);
        self
    }

    /// The stdout log format. Defaults to `OBS_LOG_FORMAT`, then JSON unless stdout is a
    /// terminal.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.overrides.log_format = Some(format);
        self
    }

    /// The `tracing` filter directives for log lines (stdout and Loki), such as
    /// `info,sqlx=warn`. Spans exported over OTLP have their own filter,
    /// [`trace_filter`](Self::trace_filter). Defaults to `RUST_LOG`, then `info`.
    pub fn log_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.log_filter = Some(directives.into());
        self
    }

    /// The `tracing` filter directives for spans exported over OTLP. Separate from the log
    /// filter, so a quiet `RUST_LOG=warn` keeps every `INFO` server and database span, and log
    /// lines written inside them keep their `trace_id` and `span_id`. Defaults to
    /// `OBS_TRACE_FILTER`, then `info`.
    pub fn trace_filter(mut self, directives: impl Into<String>) -> Self {
        self.overrides.trace_filter = Some(directives.into());
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
    ///
    /// Needs the `loki` feature (on by default); without it a URL is an error.
    pub fn loki_url(mut self, url: impl Into<String>) -> Self {
        self.overrides.loki_url = Some(url.into());
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
        self.overrides.export_timeout = Some(timeout);
        self
    }

    /// Finished spans buffered for export; when full, new spans are dropped. Defaults to
    /// `OTEL_BSP_MAX_QUEUE_SIZE`, then 2048.
    pub fn span_queue_size(mut self, size: usize) -> Self {
        self.overrides.span_queue_size = Some(size.max(1));
        self
    }

    /// Compresses span exports, on either transport. Defaults to
    /// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, `OTEL_EXPORTER_OTLP_COMPRESSION`, then none.
    pub fn otlp_compression(mut self, compression: OtlpCompression) -> Self {
        self.overrides.otlp_compression = Some(compression);
        self
    }

    /// Sends a header (gRPC metadata) with every span export, such as an API key for a
    /// hosted collector. Added to those of `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or
    /// `OTEL_EXPORTER_OTLP_HEADERS`; the builder's value wins for the same key.
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.otlp_headers.push((key.into(), value.into()));
        self
    }

    /// Trusts the CA certificates of this PEM file for an `https://` collector, such as one
    /// behind a private CA, on either transport; the system's root store and the webpki roots
    /// stay trusted. Defaults to `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, then
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`. The file is read when the telemetry is built: one
    /// that cannot be read or holds no certificate is an [`Error::InvalidConfig`].
    ///
    /// [`Error::InvalidConfig`]: crate::Error::InvalidConfig
    pub fn otlp_ca_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.overrides.otlp_ca_certificate = Some(path.into());
        self
    }

    /// Presents this client certificate, with its private key, to an `https://` collector that
    /// asks for one (mutual TLS), on either transport. `cert` is a PEM file of the certificate
    /// then any intermediates, `key` a PEM file of its unencrypted private key (PKCS #8,
    /// PKCS #1 or SEC1). Defaults to `OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE`, then
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`, with `OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY`,
    /// then `OTEL_EXPORTER_OTLP_CLIENT_KEY`; without them, no client certificate. The files
    /// are read when the telemetry is built: one that cannot be read, or holds no certificate
    /// (no private key), a key that is not the certificate's, or only one of the two variables
    /// set, is an [`Error::InvalidConfig`] naming the setting.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), obs_core::Error> {
    /// let telemetry = obs_core::Telemetry::builder("checkout")
    ///     .otlp_endpoint("https://collector.internal:4317")
    ///     .otlp_ca_certificate("/etc/otel/ca.pem")
    ///     .otlp_client_identity("/etc/otel/client.pem", "/etc/otel/client.key")
    ///     .init()?;
    /// # drop(telemetry);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`Error::InvalidConfig`]: crate::Error::InvalidConfig
    pub fn otlp_client_identity(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.overrides.otlp_client_identity = Some((cert.into(), key.into()));
        self
    }

    /// Where spans go: OTLP, the console, or nowhere. Defaults to `OTEL_TRACES_EXPORTER`, then
    /// OTLP (which exports only when an endpoint is set).
    pub fn traces_exporter(mut self, exporter: TracesExporter) -> Self {
        self.overrides.traces_exporter = Some(exporter);
        self
    }

    /// The context propagators [`init`](Self::init) installs and
    /// [`Telemetry::propagator`] returns. Defaults to `OTEL_PROPAGATORS`, then W3C trace
    /// context and baggage.
    pub fn propagators(mut self, propagators: impl IntoIterator<Item = Propagator>) -> Self {
        self.overrides.propagators = Some(propagators.into_iter().collect());
        self
    }

    /// Adds the application's own `tracing` layer (Sentry, tokio-console, a metrics bridge...)
    /// to the subscriber obs builds, after obs's layers. Call it once per layer.
    ///
    /// obs filters its layers one by one (`RUST_LOG` for log lines, `OBS_TRACE_FILTER` for
    /// spans), so there is no global filter in front: a layer without a filter of its own sees
    /// every span and event. Give it one with [`Layer::with_filter`].
    ///
    /// ```
    /// use obs_core::tracing_subscriber::Layer as _;
    /// use obs_core::tracing_subscriber::filter::LevelFilter;
    ///
    /// # fn main() -> Result<(), obs_core::Error> {
    /// // Any `tracing_subscriber::Layer<Registry>` (obs re-exports the version it uses); here
    /// // one more human-readable log stream.
    /// let errors = obs_core::tracing_subscriber::fmt::layer()
    ///     .with_writer(std::io::stderr)
    ///     .with_filter(LevelFilter::ERROR);
    /// let telemetry = obs_core::Telemetry::builder("checkout")
    ///     .with_layer(errors)
    ///     .build()?;
    /// # drop(telemetry);
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Registry> + Send + Sync + 'static,
    {
        self.layers.push(layer.boxed());
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
        // Started by the first exporter that needs it, here or in another obs crate.
        let exporters = Exporters::new();
        // Shared with the console span exporter, so spans land where the log lines go.
        let writer = SharedWriter(Arc::new(
            self.log_writer
                .unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout)),
        ));
        let Subscriber {
            dispatch,
            tracer_provider,
            loki,
            head_sampler,
        } = subscriber::assemble(&settings, writer, &metrics, &exporters, self.layers)?;
        Ok(Telemetry {
            propagators: settings.propagators,
            metrics,
            dispatch,
            build_info: settings.build_info,
            tracer_provider,
            loki,
            head_sampler,
            exporters,
            shutdown_timeout: self.shutdown_timeout,
            done: false,
        })
    }

    /// Resolves every setting: builder first, then environment, then default.
    pub(super) fn resolve(&self) -> Result<Settings, Error> {
        self.overrides
            .resolve(&self.default_service_name, &self.env)
    }
}
