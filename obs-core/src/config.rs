//! The environment variables obs reads, the setting types they parse into, and their parsers.
//!
//! Each variable is parsed (and rejected with an error that names it) here; which value wins,
//! the [`TelemetryBuilder`](crate::TelemetryBuilder) method's, the variable's or the default,
//! is decided when the builder resolves its settings in
//! [`build`](crate::TelemetryBuilder::build).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use url::Url;

use crate::Error;
pub use crate::tls_files::OtlpTlsPem;
pub(crate) use crate::tls_files::{CaCertificates, ClientIdentity};

/// `OTEL_SERVICE_NAME`: the service name; wins over `service.name` in the resource attributes.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs, comma separated, percent-encoded.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's base URL; spans are exported only when set.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: the full URL for spans, used as given.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc` (default) or `http/protobuf`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`: as `OTEL_EXPORTER_OTLP_PROTOCOL`, for spans only.
pub const OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `OTEL_TRACES_SAMPLER`: the sampler name (default `parentbased_always_on`).
pub const OTEL_TRACES_SAMPLER: &str = "OTEL_TRACES_SAMPLER";
/// `OTEL_TRACES_SAMPLER_ARG`: the ratio of the `*traceidratio` samplers, 0.0 to 1.0.
pub const OTEL_TRACES_SAMPLER_ARG: &str = "OTEL_TRACES_SAMPLER_ARG";
/// `OTEL_SDK_DISABLED`: `true` turns span export off; logs stay on.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `OTEL_EXPORTER_OTLP_TIMEOUT`: how long one export may take, in milliseconds.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`: as `OTEL_EXPORTER_OTLP_TIMEOUT`, for spans only.
pub const OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
/// `OTEL_EXPORTER_OTLP_COMPRESSION`: `gzip` or `none` (default).
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`: as `OTEL_EXPORTER_OTLP_COMPRESSION`, for spans
/// only.
pub const OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION";
/// `OTEL_EXPORTER_OTLP_HEADERS`: `key=value` pairs, comma separated, percent-encoded, sent
/// with every export (gRPC metadata or HTTP headers).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`: as `OTEL_EXPORTER_OTLP_HEADERS`, for spans only; wins
/// over it.
pub const OTEL_EXPORTER_OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// `OTEL_EXPORTER_OTLP_CERTIFICATE`: the path of a PEM file of CA certificates trusted for an
/// `https://` collector, in addition to the system's and the webpki roots; on either transport.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`: as `OTEL_EXPORTER_OTLP_CERTIFICATE`, for spans only;
/// wins over it.
pub const OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`: the path of a PEM file holding the client
/// certificate (then any intermediates) presented to an `https://` collector that asks for one
/// (mutual TLS); on either transport, with `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE`: as `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`,
/// for spans only; wins over it.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE";
/// `OTEL_EXPORTER_OTLP_CLIENT_KEY`: the path of a PEM file holding the unencrypted private key
/// (PKCS #8, PKCS #1 or SEC1) of the client certificate.
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// `OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY`: as `OTEL_EXPORTER_OTLP_CLIENT_KEY`, for spans only;
/// wins over it.
pub const OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY";
/// `OTEL_TRACES_EXPORTER`: `otlp` (default), `console` (one JSON line per span on stdout) or
/// `none` (spans are made, so logs carry trace ids, but not exported).
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `OTEL_PROPAGATORS`: the context propagators, comma separated: `tracecontext`, `baggage`,
/// `b3` (Zipkin's single header), `b3multi` (its `X-B3-*` headers) or `none` (default
/// `tracecontext,baggage`).
pub const OTEL_PROPAGATORS: &str = "OTEL_PROPAGATORS";
/// `OTEL_BSP_SCHEDULE_DELAY`: milliseconds between two exports of the batch span processor.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// `OTEL_BSP_EXPORT_TIMEOUT`: how long one batch export may take, in milliseconds (used when
/// no `OTEL_EXPORTER_OTLP_*TIMEOUT` is set).
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";
/// `OTEL_BSP_MAX_QUEUE_SIZE`: finished spans buffered for export; more are dropped.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans sent in one export, at most the queue size.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// `RUST_LOG`: the `tracing` filter directives (default `info`).
pub const RUST_LOG: &str = "RUST_LOG";
/// `OBS_TRACE_FILTER`: the `tracing` filter directives for spans exported over OTLP (default
/// `info`), separate from `RUST_LOG` so `RUST_LOG=warn` keeps traces and trace ids.
pub const OBS_TRACE_FILTER: &str = "OBS_TRACE_FILTER";
/// `OBS_LOG_FORMAT`: `json` or `pretty` (default: `json` unless stdout is a terminal).
pub const OBS_LOG_FORMAT: &str = "OBS_LOG_FORMAT";
/// `LOKI_URL`: the Loki base URL; log lines are pushed there when set.
pub const LOKI_URL: &str = "LOKI_URL";
/// `OBS_INSTANCE_ID`: the instance name in metrics, logs and traces (default: the host name).
pub const OBS_INSTANCE_ID: &str = "OBS_INSTANCE_ID";

/// Every variable [`Telemetry::from_env`](crate::Telemetry::from_env) reads.
pub const ENV_VARS: &[&str] = &[
    OTEL_SERVICE_NAME,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_TRACES_SAMPLER,
    OTEL_TRACES_SAMPLER_ARG,
    OTEL_SDK_DISABLED,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
    OTEL_TRACES_EXPORTER,
    OTEL_PROPAGATORS,
    OTEL_BSP_SCHEDULE_DELAY,
    OTEL_BSP_EXPORT_TIMEOUT,
    OTEL_BSP_MAX_QUEUE_SIZE,
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    RUST_LOG,
    OBS_TRACE_FILTER,
    OBS_LOG_FORMAT,
    LOKI_URL,
    OBS_INSTANCE_ID,
];

/// The transport spans are exported with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// OTLP over gRPC, conventionally port 4317. Needs the `otlp-grpc` feature.
    #[default]
    Grpc,
    /// OTLP protobuf over HTTP, conventionally port 4318, path `/v1/traces`. Needs the
    /// `otlp-http` feature.
    HttpProtobuf,
}

impl OtlpProtocol {
    /// The transport used when no setting names one: gRPC, unless only the `otlp-http`
    /// feature is on.
    pub(crate) fn compiled_default() -> Self {
        Self::default_of(cfg!(feature = "otlp-grpc"), cfg!(feature = "otlp-http"))
    }

    /// The default transport when gRPC and HTTP are compiled in (or not) as given.
    fn default_of(grpc: bool, http: bool) -> Self {
        if http && !grpc {
            OtlpProtocol::HttpProtobuf
        } else {
            OtlpProtocol::Grpc
        }
    }

    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` gives this transport.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        }
    }

    /// The obs-core feature that compiles this transport in, and whether it is on.
    pub(crate) fn feature(self) -> (&'static str, bool) {
        match self {
            OtlpProtocol::Grpc => ("otlp-grpc", cfg!(feature = "otlp-grpc")),
            OtlpProtocol::HttpProtobuf => ("otlp-http", cfg!(feature = "otlp-http")),
        }
    }

    fn parse(setting: &'static str, value: &str) -> Result<Self, Error> {
        match value.trim() {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            "http/json" => Err(Error::invalid(
                setting,
                value,
                "http/json is not supported; use grpc or http/protobuf",
            )),
            _ => Err(Error::invalid(
                setting,
                value,
                "expected grpc or http/protobuf",
            )),
        }
    }
}

/// Whether span exports are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OtlpCompression {
    /// Sent as they are.
    #[default]
    None,
    /// gzip, on either transport.
    Gzip,
}

impl OtlpCompression {
    fn parse(setting: &'static str, value: &str) -> Result<Self, Error> {
        match value.trim() {
            "none" => Ok(OtlpCompression::None),
            "gzip" => Ok(OtlpCompression::Gzip),
            _ => Err(Error::invalid(setting, value, "expected gzip or none")),
        }
    }
}

/// Where spans go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TracesExporter {
    /// To the OTLP endpoint, when one is set.
    #[default]
    Otlp,
    /// One JSON line per finished span on stdout; for development.
    Console,
    /// Nowhere: spans are still made, so log lines carry trace ids, but are not exported.
    None,
}

impl TracesExporter {
    fn parse(value: &str) -> Result<Self, Error> {
        match value.trim() {
            "otlp" => Ok(TracesExporter::Otlp),
            "console" => Ok(TracesExporter::Console),
            "none" => Ok(TracesExporter::None),
            other => Err(Error::invalid(
                OTEL_TRACES_EXPORTER,
                value,
                if other.contains(',') {
                    "one exporter only: otlp, console or none"
                } else {
                    "expected otlp, console or none (zipkin and jaeger are not supported)"
                },
            )),
        }
    }
}

/// A context propagator named in `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Propagator {
    /// W3C `traceparent` and `tracestate`: `tracecontext`.
    TraceContext,
    /// W3C `baggage`: `baggage`.
    Baggage,
    /// Zipkin's single `b3` header: `b3`. Extracts the `X-B3-*` headers too; see
    /// [`B3Propagator`](crate::B3Propagator).
    B3,
    /// Zipkin's `X-B3-*` headers: `b3multi`. Extracts the single `b3` header too.
    B3Multi,
}

/// Parses `OTEL_PROPAGATORS`: a comma-separated list; `none` alone means no propagation.
pub(crate) fn parse_propagators(value: &str) -> Result<Vec<Propagator>, Error> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let propagator = match name {
            "tracecontext" => Propagator::TraceContext,
            "baggage" => Propagator::Baggage,
            "b3" => Propagator::B3,
            "b3multi" => Propagator::B3Multi,
            "none" => continue,
            "jaeger" | "xray" | "ottrace" => {
                return Err(Error::invalid(
                    OTEL_PROPAGATORS,
                    value,
                    format!(
                        "{name} is not supported; use tracecontext, baggage, b3, b3multi or none"
                    ),
                ));
            }
            _ => {
                return Err(Error::invalid(
                    OTEL_PROPAGATORS,
                    value,
                    format!(
                        "unknown propagator {name:?}; expected tracecontext, baggage, b3, \
                         b3multi or none"
                    ),
                ));
            }
        };
        if !out.contains(&propagator) {
            out.push(propagator);
        }
    }
    Ok(out)
}

/// Parses OTLP headers: `key=value` pairs, comma separated, with percent-encoded values.
/// Keys must be valid header names and values valid header values.
pub(crate) fn parse_headers(
    setting: &'static str,
    raw: &str,
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::invalid(
                setting,
                raw,
                format!("entry {pair:?} is not key=value"),
            ));
        };
        let key = key.trim().to_ascii_lowercase();
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(Error::invalid(
                setting,
                raw,
                format!("{key:?} is not a header name"),
            ));
        }
        let value = percent_decode(value.trim())
            .filter(|v| http::HeaderValue::from_str(v).is_ok())
            .ok_or_else(|| {
                Error::invalid(
                    setting,
                    raw,
                    format!("the value of {key:?} is not a valid header value once decoded"),
                )
            })?;
        out.push((key, value));
    }
    Ok(out)
}

/// The OTLP headers from the process environment (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else
/// `OTEL_EXPORTER_OTLP_HEADERS`), for exporters outside [`Telemetry`](crate::Telemetry) that
/// post to the same collector, such as the RUM receiver's span forwarder.
///
/// # Errors
///
/// A malformed value, naming the variable.
pub fn otlp_headers_from_env() -> Result<Vec<(String, String)>, Error> {
    EnvVars::from_process().headers()
}

/// The TLS files of OTLP exports named by the process environment (the CA certificates of
/// `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE`, the client certificate and key of
/// `OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE` and `..._CLIENT_KEY`), read and checked,
/// for exporters outside [`Telemetry`](crate::Telemetry) that post to the same collector, such
/// as the RUM receiver's span forwarder.
///
/// # Errors
///
/// A file that cannot be read or holds no certificate (or no private key), or only one of the
/// client certificate and key set; the message names the variable.
pub fn otlp_tls_from_env() -> Result<OtlpTlsPem, Error> {
    let env = EnvVars::from_process();
    Ok(OtlpTlsPem {
        ca_certificates: env.ca_certificates()?.map(|ca| ca.pem),
        client_identity: env.client_identity()?.map(|id| id.combined_pem()),
    })
}

fn millis(setting: &'static str, value: &str) -> Result<Duration, Error> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| Error::invalid(setting, value, "expected a whole number of milliseconds"))
}

fn count(setting: &'static str, value: &str) -> Result<usize, Error> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid(setting, value, "expected a positive whole number"))
}

/// The batch span processor's settings from `OTEL_BSP_*`; `None` where unset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BspSettings {
    pub(crate) schedule_delay: Option<Duration>,
    pub(crate) export_timeout: Option<Duration>,
    pub(crate) max_queue_size: Option<usize>,
    pub(crate) max_export_batch_size: Option<usize>,
}

/// How log lines are written to stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One JSON object per line, with trace and span ids; for log shippers.
    Json,
    /// Human-readable lines with colours; for a terminal.
    Pretty,
}

impl LogFormat {
    fn parse(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "pretty" | "text" => Ok(LogFormat::Pretty),
            _ => Err(Error::invalid(
                OBS_LOG_FORMAT,
                value,
                "expected json or pretty",
            )),
        }
    }
}

/// Which traces are recorded, as named by `OTEL_TRACES_SAMPLER`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum TraceSampler {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with the given ratio.
    TraceIdRatio(f64),
    /// `parentbased_always_on`: the default.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio` with the given ratio for root spans.
    ParentBasedTraceIdRatio(f64),
}

impl TraceSampler {
    fn parse(name: &str, arg: Option<&str>) -> Result<Self, Error> {
        let ratio = || -> Result<f64, Error> {
            let Some(arg) = arg else { return Ok(1.0) };
            let value: f64 = arg.trim().parse().map_err(|_| {
                Error::invalid(
                    OTEL_TRACES_SAMPLER_ARG,
                    arg,
                    "expected a number from 0.0 to 1.0",
                )
            })?;
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::invalid(
                    OTEL_TRACES_SAMPLER_ARG,
                    arg,
                    "expected a number from 0.0 to 1.0",
                ));
            }
            Ok(value)
        };
        Ok(match name.trim() {
            "always_on" => TraceSampler::AlwaysOn,
            "always_off" => TraceSampler::AlwaysOff,
            "traceidratio" => TraceSampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => TraceSampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => TraceSampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => TraceSampler::ParentBasedTraceIdRatio(ratio()?),
            _ => {
                return Err(Error::invalid(
                    OTEL_TRACES_SAMPLER,
                    name,
                    "expected always_on, always_off, traceidratio, parentbased_always_on, \
                     parentbased_always_off or parentbased_traceidratio",
                ));
            }
        })
    }

    pub(crate) fn to_sdk(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler;
        match self {
            TraceSampler::AlwaysOn => Sampler::AlwaysOn,
            TraceSampler::AlwaysOff => Sampler::AlwaysOff,
            TraceSampler::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            TraceSampler::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            TraceSampler::ParentBasedAlwaysOff => {
                Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
            }
            TraceSampler::ParentBasedTraceIdRatio(r) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
            }
        }
    }
}

/// A snapshot of the environment variables obs reads.
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvVars(BTreeMap<&'static str, String>);

impl EnvVars {
    pub(crate) fn from_process() -> Self {
        EnvVars(
            ENV_VARS
                .iter()
                .filter_map(|&name| std::env::var(name).ok().map(|v| (name, v)))
                .collect(),
        )
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&'static str, &str)]) -> Self {
        EnvVars(pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect())
    }

    /// The value of `name`, with empty values treated as unset (as the OpenTelemetry spec asks).
    pub(crate) fn get(&self, name: &'static str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The transport, with the variable that set it.
    pub(crate) fn protocol(&self) -> Result<Option<(&'static str, OtlpProtocol)>, Error> {
        for name in [
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
            OTEL_EXPORTER_OTLP_PROTOCOL,
        ] {
            if let Some(v) = self.get(name) {
                return OtlpProtocol::parse(name, v).map(|p| Some((name, p)));
            }
        }
        Ok(None)
    }

    pub(crate) fn sampler(&self) -> Result<Option<TraceSampler>, Error> {
        match self.get(OTEL_TRACES_SAMPLER) {
            Some(name) => TraceSampler::parse(name, self.get(OTEL_TRACES_SAMPLER_ARG)).map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn sdk_disabled(&self) -> Result<Option<bool>, Error> {
        match self.get(OTEL_SDK_DISABLED) {
            None => Ok(None),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(Error::invalid(
                    OTEL_SDK_DISABLED,
                    v,
                    "expected true or false",
                )),
            },
        }
    }

    /// The first of `names` that is set, with its name.
    fn first(&self, names: [&'static str; 2]) -> Option<(&'static str, &str)> {
        names
            .into_iter()
            .find_map(|name| self.get(name).map(|v| (name, v)))
    }

    pub(crate) fn export_timeout(&self) -> Result<Option<Duration>, Error> {
        self.first([
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
            OTEL_EXPORTER_OTLP_TIMEOUT,
        ])
        .map(|(name, v)| millis(name, v))
        .transpose()
    }

    pub(crate) fn compression(&self) -> Result<Option<OtlpCompression>, Error> {
        self.first([
            OTEL_EXPORTER_OTLP_TRACES_COMPRESSION,
            OTEL_EXPORTER_OTLP_COMPRESSION,
        ])
        .map(|(name, v)| OtlpCompression::parse(name, v))
        .transpose()
    }

    pub(crate) fn ca_certificates(&self) -> Result<Option<CaCertificates>, Error> {
        self.first([
            OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE,
            OTEL_EXPORTER_OTLP_CERTIFICATE,
        ])
        .map(|(name, path)| CaCertificates::load(name, Path::new(path)))
        .transpose()
    }

    /// The client certificate and key, each from its signal's variable, else the general one;
    /// one without the other is an error naming the one that is set.
    pub(crate) fn client_identity(&self) -> Result<Option<ClientIdentity>, Error> {
        let cert = self.first([
            OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
        ]);
        let key = self.first([
            OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
            OTEL_EXPORTER_OTLP_CLIENT_KEY,
        ]);
        match (cert, key) {
            (None, None) => Ok(None),
            (Some((cert, cert_path)), Some((key, key_path))) => {
                ClientIdentity::load((cert, Path::new(cert_path)), (key, Path::new(key_path)))
                    .map(Some)
            }
            (Some((name, path)), None) => Err(Error::invalid(
                name,
                path,
                format!(
                    "a client certificate needs its private key: set \
                     {OTEL_EXPORTER_OTLP_CLIENT_KEY} (or {OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY}) \
                     too"
                ),
            )),
            (None, Some((name, path))) => Err(Error::invalid(
                name,
                path,
                format!(
                    "a client key needs its certificate: set \
                     {OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE} (or \
                     {OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE}) too"
                ),
            )),
        }
    }

    pub(crate) fn headers(&self) -> Result<Vec<(String, String)>, Error> {
        match self.first([
            OTEL_EXPORTER_OTLP_TRACES_HEADERS,
            OTEL_EXPORTER_OTLP_HEADERS,
        ]) {
            Some((name, v)) => parse_headers(name, v),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn traces_exporter(&self) -> Result<Option<TracesExporter>, Error> {
        self.get(OTEL_TRACES_EXPORTER)
            .map(TracesExporter::parse)
            .transpose()
    }

    pub(crate) fn propagators(&self) -> Result<Option<Vec<Propagator>>, Error> {
        self.get(OTEL_PROPAGATORS)
            .map(parse_propagators)
            .transpose()
    }

    pub(crate) fn bsp(&self) -> Result<BspSettings, Error> {
        let ms = |name| self.get(name).map(|v| millis(name, v)).transpose();
        let n = |name| self.get(name).map(|v| count(name, v)).transpose();
        Ok(BspSettings {
            schedule_delay: ms(OTEL_BSP_SCHEDULE_DELAY)?,
            export_timeout: ms(OTEL_BSP_EXPORT_TIMEOUT)?,
            max_queue_size: n(OTEL_BSP_MAX_QUEUE_SIZE)?,
            max_export_batch_size: n(OTEL_BSP_MAX_EXPORT_BATCH_SIZE)?,
        })
    }

    pub(crate) fn log_format(&self) -> Result<Option<LogFormat>, Error> {
        self.get(OBS_LOG_FORMAT).map(LogFormat::parse).transpose()
    }

    pub(crate) fn resource_attributes(&self) -> Result<Vec<(String, String)>, Error> {
        match self.get(OTEL_RESOURCE_ATTRIBUTES) {
            Some(raw) => parse_resource_attributes(raw),
            None => Ok(Vec::new()),
        }
    }
}

/// Parses `key=value,key=value` with percent-encoded values (W3C baggage style).
pub(crate) fn parse_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::invalid(
                OTEL_RESOURCE_ATTRIBUTES,
                raw,
                format!("entry {pair:?} is not key=value"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::invalid(
                OTEL_RESOURCE_ATTRIBUTES,
                raw,
                format!("entry {pair:?} has an empty key"),
            ));
        }
        let value = percent_decode(value.trim()).ok_or_else(|| {
            Error::invalid(
                OTEL_RESOURCE_ATTRIBUTES,
                raw,
                format!("entry {pair:?} has a bad percent-encoding"),
            )
        })?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses an `http://` or `https://` URL, naming `setting` when it is not one.
pub(crate) fn parse_http_url(setting: &'static str, value: &str) -> Result<Url, Error> {
    let url = Url::parse(value.trim())
        .map_err(|e| Error::invalid(setting, value, format!("not a URL: {e}")))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        _ => Err(Error::invalid(
            setting,
            value,
            "expected an http:// or https:// URL with a host",
        )),
    }
}

/// The name of this host, for the default instance id.
pub(crate) fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_parses_every_spec_name() {
        let vars = EnvVars::from_pairs(&[
            (OTEL_TRACES_SAMPLER, "parentbased_traceidratio"),
            (OTEL_TRACES_SAMPLER_ARG, "0.25"),
        ]);
        assert_eq!(
            vars.sampler().unwrap(),
            Some(TraceSampler::ParentBasedTraceIdRatio(0.25))
        );
        let vars = EnvVars::from_pairs(&[(OTEL_TRACES_SAMPLER, "traceidratio")]);
        assert_eq!(
            vars.sampler().unwrap(),
            Some(TraceSampler::TraceIdRatio(1.0))
        );
        let vars = EnvVars::from_pairs(&[(OTEL_TRACES_SAMPLER, "always_off")]);
        assert_eq!(vars.sampler().unwrap(), Some(TraceSampler::AlwaysOff));
    }

    #[test]
    fn bad_sampler_arg_names_the_variable() {
        let vars = EnvVars::from_pairs(&[
            (OTEL_TRACES_SAMPLER, "traceidratio"),
            (OTEL_TRACES_SAMPLER_ARG, "abc"),
        ]);
        let err = vars.sampler().unwrap_err();
        assert!(err.to_string().contains("OTEL_TRACES_SAMPLER_ARG"), "{err}");
        let vars = EnvVars::from_pairs(&[
            (OTEL_TRACES_SAMPLER, "traceidratio"),
            (OTEL_TRACES_SAMPLER_ARG, "1.5"),
        ]);
        assert!(vars.sampler().is_err());
        let vars = EnvVars::from_pairs(&[(OTEL_TRACES_SAMPLER, "sometimes")]);
        let err = vars.sampler().unwrap_err();
        assert!(err.to_string().contains("OTEL_TRACES_SAMPLER"), "{err}");
    }

    #[test]
    fn protocol_prefers_the_traces_variable() {
        let vars = EnvVars::from_pairs(&[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "http/protobuf"),
        ]);
        assert_eq!(
            vars.protocol().unwrap(),
            Some((
                OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
                OtlpProtocol::HttpProtobuf
            ))
        );
        let vars = EnvVars::from_pairs(&[(OTEL_EXPORTER_OTLP_PROTOCOL, "carrier-pigeon")]);
        let err = vars.protocol().unwrap_err();
        assert!(
            err.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
            "{err}"
        );
    }

    #[test]
    fn the_default_transport_is_grpc_unless_only_http_is_compiled_in() {
        use OtlpProtocol::{Grpc, HttpProtobuf};
        assert_eq!(OtlpProtocol::default_of(true, true), Grpc);
        assert_eq!(OtlpProtocol::default_of(true, false), Grpc);
        assert_eq!(OtlpProtocol::default_of(false, true), HttpProtobuf);
        // Nothing compiled in: gRPC, and exporting is refused naming its feature.
        assert_eq!(OtlpProtocol::default_of(false, false), Grpc);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let vars = EnvVars::from_pairs(&[(OTEL_EXPORTER_OTLP_PROTOCOL, " ")]);
        assert_eq!(vars.protocol().unwrap(), None);
    }

    #[test]
    fn resource_attributes_are_percent_decoded() {
        let attrs = parse_resource_attributes(
            "deployment.environment.name=prod, team=a%20b%2Cc ,service.version=1.2",
        )
        .unwrap();
        assert_eq!(
            attrs,
            vec![
                ("deployment.environment.name".into(), "prod".into()),
                ("team".into(), "a b,c".into()),
                ("service.version".into(), "1.2".into()),
            ]
        );
        assert!(parse_resource_attributes("novalue").is_err());
        assert!(parse_resource_attributes("k=%zz").is_err());
    }

    #[test]
    fn urls_must_be_http() {
        assert!(parse_http_url(LOKI_URL, "http://loki:3100").is_ok());
        let err = parse_http_url(LOKI_URL, "loki:3100").unwrap_err();
        assert!(err.to_string().contains("LOKI_URL"), "{err}");
        assert!(parse_http_url(LOKI_URL, "not a url").is_err());
    }

    #[test]
    fn sdk_disabled_accepts_booleans_only() {
        let vars = EnvVars::from_pairs(&[(OTEL_SDK_DISABLED, "TRUE")]);
        assert_eq!(vars.sdk_disabled().unwrap(), Some(true));
        let vars = EnvVars::from_pairs(&[(OTEL_SDK_DISABLED, "maybe")]);
        assert!(vars.sdk_disabled().is_err());
    }
}
