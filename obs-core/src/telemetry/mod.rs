//! [`Telemetry`]: one call that wires logs, traces and metrics, and the guard that flushes them.
//!
//! - `guard`: [`Telemetry`], what it owns, and the shutdown that flushes it;
//! - `builder`: [`TelemetryBuilder`], its setters, `build` and `init`;
//! - `settings`: the builder's overrides resolved against the environment and the defaults;
//! - `subscriber`: the `tracing` layers, their filters and the span exporters, assembled from
//!   the resolved settings.

use std::time::Duration;

mod builder;
mod guard;
mod settings;
mod subscriber;

pub use builder::TelemetryBuilder;
pub use guard::Telemetry;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub(crate) use settings::ExportSettings;

/// How long dropping the guard may take to flush, by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one export may take before it is abandoned, by default.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// Finished spans buffered for export, by default; more are dropped, never waited for.
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 2048;
/// The log filter when neither `RUST_LOG` nor the builder sets one.
pub const DEFAULT_LOG_FILTER: &str = "info";
/// The trace filter when neither `OBS_TRACE_FILTER` nor the builder sets one.
pub const DEFAULT_TRACE_FILTER: &str = "info";
/// The deployment environment when neither the resource attributes nor the builder set one.
pub const DEFAULT_ENVIRONMENT: &str = "development";
