//! The one error type of obs-core.

/// What can go wrong while setting up telemetry or metrics.
///
/// Configuration errors name the environment variable (or builder method) that holds the bad
/// value, so the message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting has a value obs cannot use.
    #[error("invalid value {value:?} for {setting}: {reason}")]
    InvalidConfig {
        /// The environment variable or builder method that holds the value.
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },

    /// A global `tracing` subscriber was already installed, by an earlier `init()` or by other
    /// code.
    #[error(
        "a global tracing subscriber is already installed; call `init()` once per process, \
         or use `build()` and install the returned dispatch yourself"
    )]
    AlreadyInitialized,

    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(String),

    /// The background thread that runs exporters could not be started.
    #[error("cannot start the telemetry exporter thread: {0}")]
    Runtime(#[source] std::io::Error),

    /// A metric could not be registered or encoded.
    #[error("prometheus registry: {0}")]
    Prometheus(#[from] prometheus::Error),

    /// The HTTP server families are already registered on this registry with other custom
    /// labels than those asked for (see
    /// [`Metrics::http_server_with_labels`](crate::Metrics::http_server_with_labels)).
    #[error(
        "the HTTP metrics of this registry are already registered with custom labels \
         {registered:?}, not {requested:?}; build the layer with custom labels before any \
         other HTTP layer or metrics router on the same registry, all with the same labels"
    )]
    HttpLabelsRegistered {
        /// The custom labels the families were registered with.
        registered: Vec<String>,
        /// The custom labels asked for.
        requested: Vec<String>,
    },

    /// Shutdown did not finish flushing within its timeout; some spans or log lines were lost.
    #[error("telemetry shutdown did not finish within {0:?}; unflushed data was dropped")]
    ShutdownTimeout(std::time::Duration),

    /// An exporter was to start after the telemetry had been shut down.
    #[error(
        "telemetry is shut down; build what exports through it before calling `shutdown()` \
         or dropping the guard"
    )]
    AlreadyShutDown,

    /// Flushing spans on shutdown failed.
    #[error("flushing spans on shutdown failed: {0}")]
    Shutdown(String),
}

impl Error {
    pub(crate) fn invalid(
        setting: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidConfig {
            setting,
            value: value.into(),
            reason: reason.into(),
        }
    }
}
