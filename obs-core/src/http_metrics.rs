//! The HTTP server metric families.

use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The HTTP server families of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::http_server`](crate::Metrics::http_server)).
///
/// Label order follows [`HTTP_DURATION_LABELS`], [`HTTP_BODY_SIZE_LABELS`] and
/// [`HTTP_ACTIVE_LABELS`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpServerMetrics {
    /// `http_server_request_duration_seconds`.
    pub request_duration: HistogramVec,
    /// `http_server_active_requests`.
    pub active_requests: IntGaugeVec,
    /// `http_server_request_body_size_bytes`.
    pub request_body_size: HistogramVec,
    /// `http_server_response_body_size_bytes`.
    pub response_body_size: HistogramVec,
}

impl HttpServerMetrics {
    pub(crate) fn register(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
            )
            .buckets(buckets.http_duration.clone()),
            &HTTP_DURATION_LABELS,
        )?;
        let active_requests = IntGaugeVec::new(
            Opts::new(
                HTTP_SERVER_ACTIVE_REQUESTS,
                "Number of active HTTP server requests.",
            ),
            &HTTP_ACTIVE_LABELS,
        )?;
        let request_body_size = HistogramVec::new(
            HistogramOpts::new(
                HTTP_SERVER_REQUEST_BODY_SIZE,
                "Size of HTTP server request bodies.",
            )
            .buckets(buckets.http_body_size.clone()),
            &HTTP_BODY_SIZE_LABELS,
        )?;
        let response_body_size = HistogramVec::new(
            HistogramOpts::new(
                HTTP_SERVER_RESPONSE_BODY_SIZE,
                "Size of HTTP server response bodies.",
            )
            .buckets(buckets.http_body_size.clone()),
            &HTTP_BODY_SIZE_LABELS,
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(active_requests.clone()))?;
        registry.register(Box::new(request_body_size.clone()))?;
        registry.register(Box::new(response_body_size.clone()))?;
        Ok(HttpServerMetrics {
            request_duration,
            active_requests,
            request_body_size,
            response_body_size,
        })
    }
}
