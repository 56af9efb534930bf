//! The OTLP span exporter: gRPC or HTTP/protobuf, plain or TLS, driven on the exporter runtime.
//!
//! Over TLS both transports trust the same roots: the system's store, the webpki roots, and
//! the CA certificates of `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE` or
//! `TelemetryBuilder::otlp_ca_certificate`; to a collector that asks for a client certificate
//! they present the one of `OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE` and
//! `..._CLIENT_KEY` or `TelemetryBuilder::otlp_client_identity`. opentelemetry-otlp 0.33 reads
//! none of the certificate variables itself; we hand both exporters their TLS settings.
//!
//! Each transport is behind its feature (`otlp-grpc`, `otlp-http`); the module is compiled
//! when either is on.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::Handle;
use url::Url;

use crate::Error;
use crate::config::{OtlpCompression, OtlpProtocol};
use crate::telemetry::ExportSettings;

/// Builds the OTLP exporter for `endpoint` (the full URL spans are sent to).
///
/// Settings resolution has checked that the transport of `protocol` is compiled in.
pub(crate) fn build_exporter(
    endpoint: &Url,
    protocol: OtlpProtocol,
    settings: &ExportSettings,
    handle: &Handle,
) -> Result<RuntimeExporter, Error> {
    let timeout = settings.timeout;
    let compression = match settings.compression {
        OtlpCompression::Gzip => Some(opentelemetry_otlp::Compression::Gzip),
        OtlpCompression::None => None,
    };
    // tonic spawns its connection worker on the current runtime: make that ours.
    let _entered = handle.enter();
    let exporter = match protocol {
        #[cfg(feature = "otlp-grpc")]
        OtlpProtocol::Grpc => grpc_exporter(endpoint, settings, compression)?,
        #[cfg(feature = "otlp-http")]
        OtlpProtocol::HttpProtobuf => http_exporter(endpoint, settings, compression)?,
        #[allow(unreachable_patterns, reason = "with both transports compiled in")]
        other => return Err(Error::Exporter(format!("{other:?} is not compiled in"))),
    };
    Ok(RuntimeExporter {
        inner: Arc::new(exporter),
        handle: handle.clone(),
        timeout,
    })
}

#[cfg(feature = "otlp-grpc")]
fn grpc_exporter(
    endpoint: &Url,
    settings: &ExportSettings,
    compression: Option<opentelemetry_otlp::Compression>,
) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    use opentelemetry_otlp::WithTonicConfig;

    let mut headers = http::HeaderMap::new();
    for (key, value) in &settings.headers {
        // Checked when the settings were resolved.
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.insert(k, v);
        }
    }
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.as_str())
        .with_timeout(settings.timeout)
        .with_metadata(tonic::metadata::MetadataMap::from_headers(headers));
    if let Some(compression) = compression {
        builder = builder.with_compression(compression);
    }
    if endpoint.scheme() == "https" {
        let mut config = tonic::transport::ClientTlsConfig::new()
            .with_webpki_roots()
            .domain_name(endpoint.host_str().unwrap_or_default());
        // tonic refuses to build when asked for native roots and the system has none
        // (a scratch image); reqwest, and we, carry on with the others.
        if !rustls_native_certs::load_native_certs().certs.is_empty() {
            config = config.with_native_roots();
        }
        if let Some(ca) = &settings.ca_certificates {
            config = config.ca_certificate(tonic::transport::Certificate::from_pem(ca.pem.clone()));
        }
        if let Some(id) = &settings.client_identity {
            config = config.identity(tonic::transport::Identity::from_pem(
                id.cert_pem.clone(),
                id.key_pem.clone(),
            ));
        }
        builder = builder.with_tls_config(config);
    }
    builder.build().map_err(|e| Error::Exporter(e.to_string()))
}

#[cfg(feature = "otlp-http")]
fn http_exporter(
    endpoint: &Url,
    settings: &ExportSettings,
    compression: Option<opentelemetry_otlp::Compression>,
) -> Result<opentelemetry_otlp::SpanExporter, Error> {
    use opentelemetry_otlp::WithHttpConfig;

    // With the `rustls-tls-native-roots` feature, reqwest trusts the system's roots as well as
    // the webpki ones.
    let mut client = reqwest::Client::builder().timeout(settings.timeout);
    for cert in settings.ca_certificates.iter().flat_map(|ca| &ca.certs) {
        client = client.add_root_certificate(
            reqwest::Certificate::from_der(cert).map_err(|e| Error::Exporter(e.to_string()))?,
        );
    }
    if let Some(id) = &settings.client_identity {
        client = client.identity(
            reqwest::Identity::from_pem(&id.combined_pem())
                .map_err(|e| Error::Exporter(e.to_string()))?,
        );
    }
    let client = client.build().map_err(|e| Error::Exporter(e.to_string()))?;
    let mut builder = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint.as_str())
        .with_timeout(settings.timeout)
        .with_headers(settings.headers.iter().cloned().collect())
        .with_http_client(ReqwestClient(client));
    if let Some(compression) = compression {
        builder = builder.with_compression(compression);
    }
    builder.build().map_err(|e| Error::Exporter(e.to_string()))
}

/// Runs every export of the wrapped exporter on the exporter runtime, bounded by a timeout.
///
/// The SDK's batch processor drives exports from its own thread with a minimal executor; the
/// OTLP transports need a Tokio reactor. Spawning onto our runtime gives them one wherever the
/// application's runtime is, or is not.
#[derive(Debug)]
pub(crate) struct RuntimeExporter {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    handle: Handle,
    timeout: Duration,
}

impl SpanExporter for RuntimeExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let inner = Arc::clone(&self.inner);
        let timeout = self.timeout;
        let task = self
            .handle
            .spawn(async move { tokio::time::timeout(timeout, inner.export(batch)).await });
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(OTelSdkError::Timeout(timeout)),
            Err(join) => Err(OTelSdkError::InternalFailure(join.to_string())),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once while the provider is built, before any export shares the Arc.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// The HTTP client of the OTLP HTTP exporter: reqwest with rustls (the system's, the webpki and
/// any configured CA roots), so `https://` collectors work.
#[cfg(feature = "otlp-http")]
#[derive(Debug)]
struct ReqwestClient(reqwest::Client);

#[cfg(feature = "otlp-http")]
#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ReqwestClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        let mut out = http::Response::new(body);
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        Ok(out)
    }
}
