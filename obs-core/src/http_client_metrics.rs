//! The HTTP client metric family.

use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The HTTP client family of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::http_client`](crate::Metrics::http_client)).
///
/// For instrumentation crates (obs-axum's client layer records into it): record through
/// [`HttpClientMetrics::request_duration`], which names its labels; look the handle up once
/// per label set and keep it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpClientMetrics {
    /// `http_client_request_duration_seconds`, labels [`HTTP_CLIENT_DURATION_LABELS`].
    request_duration: HistogramVec,
}

/// The labels of one outgoing HTTP request. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpClientLabels<'a> {
    /// `http_request_method`: a known method or [`METHOD_OTHER`].
    pub method: &'a str,
    /// `server_address`: an allow-listed host or [`SERVER_ADDRESS_OTHER`].
    pub server_address: &'a str,
    /// `server_port`, empty when the address is [`SERVER_ADDRESS_OTHER`].
    pub server_port: &'a str,
    /// `http_response_status_code`, empty when no response arrived.
    pub status: &'a str,
    /// `error_type`, empty when the request succeeded.
    pub error_type: &'a str,
}

impl HttpClientMetrics {
    pub(crate) fn register(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                HTTP_CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests.",
            )
            .buckets(buckets.http_duration.clone()),
            &HTTP_CLIENT_DURATION_LABELS,
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        Ok(HttpClientMetrics { request_duration })
    }

    /// The `http_client_request_duration_seconds` series of one label set.
    pub fn request_duration(&self, labels: HttpClientLabels<'_>) -> Histogram {
        self.request_duration.with_label_values(&[
            labels.method,
            labels.server_address,
            labels.server_port,
            labels.status,
            labels.error_type,
        ])
    }
}
