//! [`Telemetry`]: the guard that owns the exporters and flushes them on shutdown or drop.

use std::fmt;
use std::time::{Duration, Instant};

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Dispatch;

use super::TelemetryBuilder;
use crate::build_info::BuildInfo;
use crate::config::{EnvVars, Propagator};
use crate::loki::LokiShutdown;
use crate::runtime::Exporters;
use crate::{B3Encoding, B3Propagator, Error, HeadSampler, Metrics};

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
    pub(super) propagators: Vec<Propagator>,
    pub(super) metrics: Metrics,
    pub(super) dispatch: Dispatch,
    pub(super) build_info: BuildInfo,
    pub(super) tracer_provider: Option<SdkTracerProvider>,
    pub(super) loki: Option<LokiShutdown>,
    pub(super) head_sampler: Option<HeadSampler>,
    pub(super) exporters: Exporters,
    pub(super) shutdown_timeout: Duration,
    pub(super) done: bool,
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

    /// The configured context propagators (`OTEL_PROPAGATORS`), in their order. Instrumentation
    /// that knows them can skip extraction from a request that carries none of their headers.
    pub fn propagators(&self) -> &[Propagator] {
        &self.propagators
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
                    Propagator::B3 => Box::new(B3Propagator::new(B3Encoding::SingleHeader)),
                    Propagator::B3Multi => Box::new(B3Propagator::new(B3Encoding::MultipleHeaders)),
                }
            })
            .collect();
        TextMapCompositePropagator::new(propagators)
    }

    /// The OpenTelemetry tracer provider, unless `OTEL_SDK_DISABLED` turned it off.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The sampler, to be asked before a span is opened (see [`HeadSampler`]), when a request
    /// served without a span is otherwise what it would have been with one: spans are
    /// exported (not `OTEL_SDK_DISABLED`), logs and traces share one filter, the application
    /// added no layers of its own, and log lines are JSON. `None` otherwise.
    pub fn head_sampler(&self) -> Option<&HeadSampler> {
        self.head_sampler.as_ref()
    }

    /// The exporter runtime, for instrumentation that exports in the background (the RUM
    /// receiver's span forwarder) and that this guard flushes on shutdown.
    #[doc(hidden)]
    pub fn exporters(&self) -> &Exporters {
        &self.exporters
    }

    /// Flushes spans, log lines and the background exporters of other obs crates (the RUM
    /// receiver's span forwarder), and stops the exporters, within the shutdown timeout.
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
        // Background exporters of other crates flush while the spans and log lines do.
        self.exporters.begin_shutdown();
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
        if !self.exporters.shutdown(deadline) {
            result = Err(Error::ShutdownTimeout(self.shutdown_timeout));
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
            .field("exporters", &self.exporters)
            .finish_non_exhaustive()
    }
}
