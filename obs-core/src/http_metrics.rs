//! The HTTP server metric families.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::exemplars::{ExemplarFamily, ExemplarHistogram, ExemplarIndex};
use crate::names::*;

/// The HTTP server families of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::http_server`](crate::Metrics::http_server)).
///
/// For instrumentation crates (obs-axum records into it): look a series up once per label
/// set with [`series`](Self::series) or [`active_requests`](Self::active_requests) and keep
/// the handle; the lookup hashes the label values and takes the family's lock.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpServerMetrics {
    /// `http_server_request_duration_seconds`, labels [`HTTP_DURATION_LABELS`].
    request_duration: HistogramVec,
    /// The exemplar slots of `request_duration`'s series.
    request_duration_exemplars: ExemplarFamily,
    /// `http_server_active_requests`, labels [`HTTP_ACTIVE_LABELS`].
    active_requests: IntGaugeVec,
    /// `http_server_request_body_size_bytes`, labels [`HTTP_BODY_SIZE_LABELS`].
    request_body_size: HistogramVec,
    /// `http_server_response_body_size_bytes`, labels [`HTTP_BODY_SIZE_LABELS`].
    response_body_size: HistogramVec,
}

/// The labels of one HTTP server response. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpServerLabels<'a> {
    /// `http_request_method`: a known method or [`METHOD_OTHER`].
    pub method: &'a str,
    /// `http_route`: the route template or [`ROUTE_UNMATCHED`].
    pub route: &'a str,
    /// `http_response_status_code`, empty when no response was produced.
    pub status: &'a str,
    /// `error_type`, empty when the request succeeded. Not a label of the body sizes.
    pub error_type: &'a str,
}

/// The series one finished HTTP response records into, looked up together by
/// [`HttpServerMetrics::series`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpServerSeries {
    /// `http_server_request_duration_seconds`, with exemplars.
    pub request_duration: ExemplarHistogram,
    /// `http_server_request_body_size_bytes`.
    pub request_body_size: Histogram,
    /// `http_server_response_body_size_bytes`.
    pub response_body_size: Histogram,
}

impl HttpServerMetrics {
    pub(crate) fn register(
        registry: &Registry,
        buckets: &Buckets,
        exemplars: &ExemplarIndex,
    ) -> Result<Self, Error> {
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
        let request_duration_exemplars = ExemplarFamily::new(
            HTTP_SERVER_REQUEST_DURATION,
            &HTTP_DURATION_LABELS,
            &buckets.http_duration,
        );
        exemplars.add(request_duration_exemplars.clone());
        Ok(HttpServerMetrics {
            request_duration,
            request_duration_exemplars,
            active_requests,
            request_body_size,
            response_body_size,
        })
    }

    /// The duration and both body-size series of one response.
    pub fn series(&self, labels: HttpServerLabels<'_>) -> HttpServerSeries {
        HttpServerSeries {
            request_duration: self.request_duration(labels),
            request_body_size: self.request_body_size(labels),
            response_body_size: self.response_body_size(labels),
        }
    }

    /// The `http_server_request_duration_seconds` series of `labels`, alone: for a request
    /// that produced no response body to measure.
    pub fn request_duration(&self, labels: HttpServerLabels<'_>) -> ExemplarHistogram {
        let values = [
            labels.method,
            labels.route,
            labels.status,
            labels.error_type,
        ];
        let histogram = self.request_duration.with_label_values(&values);
        self.request_duration_exemplars.series(histogram, &values)
    }

    /// The `http_server_request_body_size_bytes` series of `labels` (`error_type` is not one
    /// of its labels).
    pub fn request_body_size(&self, labels: HttpServerLabels<'_>) -> Histogram {
        self.request_body_size
            .with_label_values(&[labels.method, labels.route, labels.status])
    }

    /// The `http_server_response_body_size_bytes` series of `labels` (`error_type` is not
    /// one of its labels).
    pub fn response_body_size(&self, labels: HttpServerLabels<'_>) -> Histogram {
        self.response_body_size
            .with_label_values(&[labels.method, labels.route, labels.status])
    }

    /// The `http_server_active_requests` gauge of one `http_request_method` (a known method
    /// or [`METHOD_OTHER`]).
    pub fn active_requests(&self, method: &str) -> IntGauge {
        self.active_requests.with_label_values(&[method])
    }
}
