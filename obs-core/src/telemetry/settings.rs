//! Settings resolution: what the builder set, else what the environment says (parsed by
//! [`crate::config`]), else the default, checked once into [`Settings`] before anything starts.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use tracing_subscriber::EnvFilter;
use url::Url;

use super::{
    DEFAULT_ENVIRONMENT, DEFAULT_EXPORT_TIMEOUT, DEFAULT_LOG_FILTER, DEFAULT_SPAN_QUEUE_SIZE,
    DEFAULT_TRACE_FILTER,
};
use crate::Error;
use crate::build_info::BuildInfo;
use crate::config::{
    self, CaCertificates, ClientIdentity, EnvVars, LogFormat, OtlpCompression, OtlpProtocol,
    Propagator, TraceSampler, TracesExporter,
};

/// Spans sent in one export when `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` is unset.
const DEFAULT_EXPORT_BATCH_SIZE: usize = 512;
/// Time between two exports when `OTEL_BSP_SCHEDULE_DELAY` is unset: shorter than the
/// specification's 5 s, so traces show up while one still looks at the request.
const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(500);

/// The builder method of the client certificate and key, named by their errors.
const CLIENT_IDENTITY_SETTING: &str = "TelemetryBuilder::otlp_client_identity";

/// What the [`TelemetryBuilder`](super::TelemetryBuilder) set of the settings an environment
/// variable also sets; `None` (or empty) where the builder left it to the environment.
#[derive(Debug, Default)]
pub(super) struct Overrides {
    pub(super) service_name: Option<String>,
    pub(super) service_version: Option<String>,
    pub(super) instance_id: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) resource_attributes: Vec<(String, String)>,
    pub(super) otlp_endpoint: Option<String>,
    pub(super) otlp_protocol: Option<OtlpProtocol>,
    pub(super) sampler: Option<TraceSampler>,
    pub(super) sdk_disabled: Option<bool>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) log_filter: Option<String>,
    pub(super) trace_filter: Option<String>,
    pub(super) loki_url: Option<String>,
    pub(super) export_timeout: Option<Duration>,
    pub(super) span_queue_size: Option<usize>,
    pub(super) otlp_compression: Option<OtlpCompression>,
    pub(super) otlp_headers: Vec<(String, String)>,
    pub(super) otlp_ca_certificate: Option<PathBuf>,
    /// The client certificate and key files.
    pub(super) otlp_client_identity: Option<(PathBuf, PathBuf)>,
    pub(super) traces_exporter: Option<TracesExporter>,
    pub(super) propagators: Option<Vec<Propagator>>,
}

impl Overrides {
    /// Resolves every setting: the builder's first, then the environment's, then the default.
    pub(super) fn resolve(
        &self,
        default_service_name: &str,
        env: &EnvVars,
    ) -> Result<Settings, Error> {
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
            .unwrap_or_else(|| default_service_name.to_owned());
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

        let (protocol_setting, protocol) = match self.otlp_protocol {
            Some(p) => (Some("TelemetryBuilder::otlp_protocol"), p),
            None => match env.protocol()? {
                Some((name, p)) => (Some(name), p),
                None => (None, OtlpProtocol::compiled_default()),
            },
        };
        let endpoint = self.resolve_otlp_endpoint(env, protocol)?;
        let sampler = match self.sampler {
            Some(s) => s,
            None => env.sampler()?.unwrap_or(TraceSampler::ParentBasedAlwaysOn),
        };
        let sdk_disabled = match self.sdk_disabled {
            Some(d) => d,
            None => env.sdk_disabled()?.unwrap_or(false),
        };
        let export = self.resolve_export(env)?;
        if let Some((setting, url)) = &endpoint
            && export.exporter == TracesExporter::Otlp
            && !sdk_disabled
        {
            transport_compiled_in(protocol, protocol_setting, setting, url)?;
        }
        let otlp = endpoint.map(|(_, url)| (url, protocol));
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
            (Some(url), _) => Some(loki_url("TelemetryBuilder::loki_url", url)?),
            (None, Some(url)) => Some(loki_url(config::LOKI_URL, url)?),
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
    fn resolve_export(&self, env: &EnvVars) -> Result<ExportSettings, Error> {
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
            ca_certificates: match &self.otlp_ca_certificate {
                Some(path) => Some(CaCertificates::load(
                    "TelemetryBuilder::otlp_ca_certificate",
                    path,
                )?),
                None => env.ca_certificates()?,
            },
            client_identity: match &self.otlp_client_identity {
                Some((cert, key)) => Some(ClientIdentity::load(
                    (CLIENT_IDENTITY_SETTING, cert),
                    (CLIENT_IDENTITY_SETTING, key),
                )?),
                None => env.client_identity()?,
            },
            queue_size,
            batch_size: bsp
                .max_export_batch_size
                .unwrap_or(DEFAULT_EXPORT_BATCH_SIZE)
                .min(queue_size),
            schedule_delay: bsp.schedule_delay.unwrap_or(DEFAULT_SCHEDULE_DELAY),
        })
    }

    /// The full URL spans go to, if any, and the setting it came from.
    fn resolve_otlp_endpoint(
        &self,
        env: &EnvVars,
        protocol: OtlpProtocol,
    ) -> Result<Option<(&'static str, Url)>, Error> {
        let (setting, value, is_base) = if let Some(url) = &self.otlp_endpoint {
            ("TelemetryBuilder::otlp_endpoint", url.as_str(), true)
        } else if let Some(url) = env.get(config::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) {
            (config::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, url, false)
        } else if let Some(url) = env.get(config::OTEL_EXPORTER_OTLP_ENDPOINT) {
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
        Ok(Some((setting, url)))
    }
}

/// An error unless the transport spans would be exported over is compiled in. It names the
/// setting that chose the transport, or, when none did, the one that set the endpoint.
fn transport_compiled_in(
    protocol: OtlpProtocol,
    protocol_setting: Option<&'static str>,
    endpoint_setting: &'static str,
    endpoint: &Url,
) -> Result<(), Error> {
    let (feature, on) = protocol.feature();
    if on {
        return Ok(());
    }
    Err(match protocol_setting {
        Some(setting) => Error::invalid(
            setting,
            protocol.as_str(),
            format!(
                "this transport needs obs-core's `{feature}` feature, which is off; \
                 enable it in Cargo.toml or choose the other transport"
            ),
        ),
        None => Error::invalid(
            endpoint_setting,
            endpoint.as_str(),
            "exporting spans over OTLP needs obs-core's `otlp-grpc` or `otlp-http` feature, \
             both off; enable one in Cargo.toml, or set OTEL_TRACES_EXPORTER=none",
        ),
    })
}

/// The Loki URL of `setting`, refused when the pusher (feature `loki`) is not compiled in.
fn loki_url(setting: &'static str, value: &str) -> Result<Url, Error> {
    let url = config::parse_http_url(setting, value)?;
    if !cfg!(feature = "loki") {
        return Err(Error::invalid(
            setting,
            value,
            "pushing logs to Loki needs obs-core's `loki` feature, which is off; enable it in \
             Cargo.toml",
        ));
    }
    Ok(url)
}

/// Every setting after resolution.
pub(super) struct Settings {
    pub(super) build_info: BuildInfo,
    pub(super) resource: Resource,
    pub(super) otlp: Option<(Url, OtlpProtocol)>,
    pub(super) sampler: TraceSampler,
    pub(super) sdk_disabled: bool,
    pub(super) log_format: LogFormat,
    /// Directives checked by [`filter_directives`], so building a filter from them cannot fail.
    pub(super) log_filter: String,
    pub(super) trace_filter: String,
    pub(super) loki_url: Option<Url>,
    pub(super) export: ExportSettings,
    pub(super) propagators: Vec<Propagator>,
}

/// How spans leave the process, after resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportSettings {
    pub(crate) exporter: TracesExporter,
    pub(crate) timeout: Duration,
    pub(crate) compression: OtlpCompression,
    pub(crate) headers: Vec<(String, String)>,
    /// Trusted for an `https://` collector besides the system's and the webpki roots.
    pub(crate) ca_certificates: Option<CaCertificates>,
    /// Presented to an `https://` collector that asks for a client certificate.
    pub(crate) client_identity: Option<ClientIdentity>,
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
pub(super) fn env_filter(directives: &str) -> EnvFilter {
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::*;
    use crate::telemetry::TelemetryBuilder;

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
    #[cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
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
        let s = builder(&[(OTEL_PROPAGATORS, "b3multi, b3,b3multi")])
            .resolve()
            .unwrap();
        assert_eq!(s.propagators, [Propagator::B3Multi, Propagator::B3]);
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
                ca_certificates: None,
                client_identity: None,
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
            (OTEL_PROPAGATORS, "tracecontext,jaeger"),
            (OTEL_PROPAGATORS, "carrier-pigeon"),
            (OTEL_BSP_SCHEDULE_DELAY, "-1"),
            (OTEL_BSP_MAX_QUEUE_SIZE, "0"),
            (OTEL_EXPORTER_OTLP_CERTIFICATE, "/nonexistent/ca.pem"),
            (OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, "/nonexistent/ca.pem"),
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

    #[test]
    fn the_traces_certificate_wins_and_a_file_without_one_is_an_error() {
        let dir = std::env::temp_dir().join(format!("obs-settings-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Only the PEM framing is checked here; the TLS tests use real certificates.
        let block = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let (one, two, none) = (
            dir.join("one.pem"),
            dir.join("two.pem"),
            dir.join("none.pem"),
        );
        std::fs::write(&one, block).unwrap();
        std::fs::write(&two, block.repeat(2)).unwrap();
        std::fs::write(
            &none,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        let certs = |vars: &[(&'static str, &str)]| {
            builder(vars)
                .resolve()
                .unwrap()
                .export
                .ca_certificates
                .map(|ca| ca.certs.len())
        };

        assert_eq!(certs(&[]), None);
        assert_eq!(
            certs(&[(OTEL_EXPORTER_OTLP_CERTIFICATE, &path(&one))]),
            Some(1)
        );
        assert_eq!(
            certs(&[
                (OTEL_EXPORTER_OTLP_CERTIFICATE, &path(&one)),
                (OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, &path(&two)),
            ]),
            Some(2)
        );
        let built = builder(&[(OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, &path(&two))])
            .otlp_ca_certificate(&one)
            .resolve()
            .unwrap();
        assert_eq!(
            built.export.ca_certificates.map(|ca| ca.certs.len()),
            Some(1)
        );

        let err = match builder(&[(OTEL_EXPORTER_OTLP_CERTIFICATE, &path(&none))]).resolve() {
            Ok(_) => panic!("a file without a certificate was accepted"),
            Err(err) => err.to_string(),
        };
        assert!(
            err.contains(OTEL_EXPORTER_OTLP_CERTIFICATE) && err.contains("no PEM certificate"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_client_identity_comes_from_the_signal_variables_first_and_the_builder_wins() {
        // Two real pairs: with an OTLP transport compiled in, a key must match its certificate.
        let Ok(a) = obs_testkit::TestCa::generate() else {
            return;
        };
        let Ok(b) = obs_testkit::TestCa::generate() else {
            return;
        };
        let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
        let (cert_a, key_a) = (path(a.client_cert_path()), path(a.client_key_path()));
        let (cert_b, key_b) = (path(b.client_cert_path()), path(b.client_key_path()));
        let missing = path(a.ca_path().with_file_name("missing.pem"));
        let (cert_a, cert_b, key_a, key_b, missing) = (
            cert_a.as_str(),
            cert_b.as_str(),
            key_a.as_str(),
            key_b.as_str(),
            missing.as_str(),
        );
        let identity = |b: TelemetryBuilder| {
            let id = b.resolve().unwrap().export.client_identity?;
            Some(String::from_utf8(id.combined_pem()).unwrap())
        };
        let both = |cert: &str, key: &str| {
            Some(format!(
                "{}{}",
                std::fs::read_to_string(key).unwrap(),
                std::fs::read_to_string(cert).unwrap()
            ))
        };

        assert_eq!(identity(builder(&[])), None);
        assert_eq!(
            identity(builder(&[
                (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, cert_a),
                (OTEL_EXPORTER_OTLP_CLIENT_KEY, key_a),
            ])),
            both(cert_a, key_a)
        );
        // Each signal variable wins over its general one; the general ones are not read.
        assert_eq!(
            identity(builder(&[
                (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, missing),
                (OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, cert_b),
                (OTEL_EXPORTER_OTLP_CLIENT_KEY, missing),
                (OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, key_b),
            ])),
            both(cert_b, key_b)
        );
        assert_eq!(
            identity(builder(&[
                (OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, cert_b),
                (OTEL_EXPORTER_OTLP_CLIENT_KEY, key_b),
            ])),
            both(cert_b, key_b)
        );
        // The builder wins, also over a half-set pair.
        assert_eq!(
            identity(
                builder(&[(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, missing)])
                    .otlp_client_identity(cert_a, key_a)
            ),
            both(cert_a, key_a)
        );

        // Each error names the setting that holds the bad value.
        let refused = |b: TelemetryBuilder| match b.resolve() {
            Ok(_) => panic!("a bad client identity was accepted"),
            Err(e) => e.to_string(),
        };
        // The variables, the one the error names, and why.
        type Case<'a> = (&'a [(&'static str, &'a str)], &'static str, &'static str);
        let cases: &[Case<'_>] = &[
            (
                &[(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, cert_a)],
                OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
                "needs its private key",
            ),
            (
                &[(OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, key_a)],
                OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
                "needs its certificate",
            ),
            (
                &[
                    (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, missing),
                    (OTEL_EXPORTER_OTLP_CLIENT_KEY, key_a),
                ],
                OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
                "cannot read the file",
            ),
            (
                &[
                    (OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, cert_a),
                    (OTEL_EXPORTER_OTLP_CLIENT_KEY, missing),
                ],
                OTEL_EXPORTER_OTLP_CLIENT_KEY,
                "cannot read the file",
            ),
            (
                &[
                    (OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE, key_a),
                    (OTEL_EXPORTER_OTLP_CLIENT_KEY, key_a),
                ],
                OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE,
                "no PEM certificate",
            ),
            (
                &[
                    (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, cert_a),
                    (OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, cert_b),
                ],
                OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY,
                "no unencrypted PEM private key",
            ),
        ];
        for (vars, name, reason) in cases {
            let err = refused(builder(vars));
            assert!(
                err.contains(name) && err.contains(reason),
                "{vars:?}: {err}"
            );
        }
        for (cert, key, reason) in [
            (missing, key_a, "cannot read the file"),
            (cert_a, missing, "cannot read the file"),
            (key_a, key_a, "no PEM certificate"),
            (cert_a, cert_a, "no unencrypted PEM private key"),
        ] {
            let err = refused(builder(&[]).otlp_client_identity(cert, key));
            assert!(
                err.contains("TelemetryBuilder::otlp_client_identity") && err.contains(reason),
                "{err}"
            );
        }
        // Another certificate's key, refused at startup rather than by the first export.
        if cfg!(any(feature = "otlp-grpc", feature = "otlp-http")) {
            let err = refused(builder(&[
                (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, cert_a),
                (OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, key_b),
            ]));
            assert!(
                err.contains(OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY)
                    && err.contains("not the private key of the certificate"),
                "{err}"
            );
            let err = refused(builder(&[]).otlp_client_identity(cert_b, key_a));
            assert!(
                err.contains("TelemetryBuilder::otlp_client_identity")
                    && err.contains("not the private key of the certificate"),
                "{err}"
            );
        }
    }

    /// The message of the error `vars` (and the builder changes of `edit`) resolve to.
    #[cfg(not(all(feature = "otlp-grpc", feature = "otlp-http", feature = "loki")))]
    fn refusal(
        vars: &[(&'static str, &str)],
        edit: impl FnOnce(TelemetryBuilder) -> TelemetryBuilder,
    ) -> String {
        match edit(builder(vars)).resolve() {
            Ok(_) => panic!("{vars:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    #[cfg(not(feature = "loki"))]
    fn a_loki_url_without_the_loki_feature_names_the_setting_and_the_feature() {
        let err = refusal(&[(LOKI_URL, "http://loki:3100")], |b| b);
        assert!(
            err.contains("LOKI_URL") && err.contains("`loki` feature"),
            "{err}"
        );
        let err = refusal(&[], |b| b.loki_url("http://loki:3100"));
        assert!(
            err.contains("TelemetryBuilder::loki_url") && err.contains("`loki` feature"),
            "{err}"
        );
    }

    #[test]
    #[cfg(not(feature = "otlp-grpc"))]
    fn grpc_without_its_feature_names_the_setting_and_the_feature() {
        let endpoint = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317");
        let err = refusal(&[endpoint, (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")], |b| b);
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && err.contains("`otlp-grpc` feature"),
            "{err}"
        );
        let err = refusal(&[endpoint], |b| b.otlp_protocol(OtlpProtocol::Grpc));
        assert!(
            err.contains("TelemetryBuilder::otlp_protocol") && err.contains("`otlp-grpc`"),
            "{err}"
        );
        // No endpoint, or spans not exported over OTLP: nothing needs the transport.
        let unused = [
            &[(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")][..],
            &[
                endpoint,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_TRACES_EXPORTER, "none"),
            ],
            &[
                endpoint,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_SDK_DISABLED, "true"),
            ],
        ];
        for vars in unused {
            assert!(builder(vars).resolve().is_ok(), "{vars:?}");
        }
    }

    #[test]
    #[cfg(not(feature = "otlp-http"))]
    fn http_without_its_feature_names_the_setting_and_the_feature() {
        let err = refusal(
            &[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
                (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, "http/protobuf"),
            ],
            |b| b,
        );
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                && err.contains("`otlp-http` feature"),
            "{err}"
        );
    }

    #[test]
    #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
    fn an_endpoint_without_any_transport_names_the_endpoint_and_both_features() {
        let err = refusal(
            &[(OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317")],
            |b| b,
        );
        assert!(
            err.contains("OTEL_EXPORTER_OTLP_ENDPOINT")
                && err.contains("`otlp-grpc` or `otlp-http` feature"),
            "{err}"
        );
        let err = refusal(&[], |b| b.otlp_endpoint("http://collector:4317"));
        assert!(err.contains("TelemetryBuilder::otlp_endpoint"), "{err}");
    }
}
