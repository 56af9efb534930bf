//! The HTTP server metric families.

use std::sync::Arc;

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
///
/// Registered with [`Metrics::http_server_with_labels`](crate::Metrics::http_server_with_labels),
/// the duration and body-size families carry the application's [custom
/// labels](Self::custom_labels) after their own; [`series_with`](Self::series_with) takes
/// their values, and [`series`](Self::series) records them empty.
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
    /// The custom label names after the built-in labels of the histograms, in order.
    custom_labels: Arc<[Box<str>]>,
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
    /// Registers the families, the histograms with `custom_labels` (checked by the caller)
    /// after their own labels.
    pub(crate) fn register(
        registry: &Registry,
        buckets: &Buckets,
        exemplars: &ExemplarIndex,
        custom_labels: &[&str],
    ) -> Result<Self, Error> {
        let duration_labels = with_custom(&HTTP_DURATION_LABELS, custom_labels);
        let body_size_labels = with_custom(&HTTP_BODY_SIZE_LABELS, custom_labels);
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
            )
            .buckets(buckets.http_duration.clone()),
            &duration_labels,
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
            &body_size_labels,
        )?;
        let response_body_size = HistogramVec::new(
            HistogramOpts::new(
                HTTP_SERVER_RESPONSE_BODY_SIZE,
                "Size of HTTP server response bodies.",
            )
            .buckets(buckets.http_body_size.clone()),
            &body_size_labels,
        )?;
        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(active_requests.clone()))?;
        registry.register(Box::new(request_body_size.clone()))?;
        registry.register(Box::new(response_body_size.clone()))?;
        let request_duration_exemplars = ExemplarFamily::new(
            HTTP_SERVER_REQUEST_DURATION,
            &duration_labels,
            &buckets.http_duration,
        );
        exemplars.add(request_duration_exemplars.clone());
        Ok(HttpServerMetrics {
            request_duration,
            request_duration_exemplars,
            active_requests,
            request_body_size,
            response_body_size,
            custom_labels: custom_labels.iter().map(|n| Box::from(*n)).collect(),
        })
    }

    /// The custom label names the duration and body-size histograms carry after their own,
    /// in the order [`series_with`](Self::series_with) takes their values. Empty unless the
    /// families were registered by
    /// [`Metrics::http_server_with_labels`](crate::Metrics::http_server_with_labels).
    pub fn custom_labels(&self) -> &[Box<str>] {
        &self.custom_labels
    }

    /// The duration and both body-size series of one response, with every custom label
    /// empty.
    pub fn series(&self, labels: HttpServerLabels<'_>) -> HttpServerSeries {
        self.series_with(labels, &[])
    }

    /// The duration and both body-size series of one response, with `custom` as the values
    /// of the [custom labels](Self::custom_labels), in their order. Pass bounded values only;
    /// missing values are empty and extra ones are ignored.
    pub fn series_with(&self, labels: HttpServerLabels<'_>, custom: &[&str]) -> HttpServerSeries {
        HttpServerSeries {
            request_duration: self.request_duration_with(labels, custom),
            request_body_size: self.body_size(&self.request_body_size, labels, custom),
            response_body_size: self.body_size(&self.response_body_size, labels, custom),
        }
    }

    /// The `http_server_request_duration_seconds` series of `labels`, alone: for a request
    /// that produced no response body to measure.
    pub fn request_duration(&self, labels: HttpServerLabels<'_>) -> ExemplarHistogram {
        self.request_duration_with(labels, &[])
    }

    /// The `http_server_request_duration_seconds` series of `labels` and the custom label
    /// values `custom` (as in [`series_with`](Self::series_with)), alone.
    pub fn request_duration_with(
        &self,
        labels: HttpServerLabels<'_>,
        custom: &[&str],
    ) -> ExemplarHistogram {
        let values = self.values(
            &[
                labels.method,
                labels.route,
                labels.status,
                labels.error_type,
            ],
            custom,
        );
        let histogram = self.request_duration.with_label_values(&values);
        self.request_duration_exemplars.series(histogram, &values)
    }

    /// The `http_server_request_body_size_bytes` series of `labels` (`error_type` is not one
    /// of its labels), with every custom label empty.
    pub fn request_body_size(&self, labels: HttpServerLabels<'_>) -> Histogram {
        self.body_size(&self.request_body_size, labels, &[])
    }

    /// The `http_server_response_body_size_bytes` series of `labels` (`error_type` is not
    /// one of its labels), with every custom label empty.
    pub fn response_body_size(&self, labels: HttpServerLabels<'_>) -> Histogram {
        self.body_size(&self.response_body_size, labels, &[])
    }

    fn body_size(
        &self,
        family: &HistogramVec,
        labels: HttpServerLabels<'_>,
        custom: &[&str],
    ) -> Histogram {
        family
            .with_label_values(&self.values(&[labels.method, labels.route, labels.status], custom))
    }

    /// `builtin`, then one value per custom label: from `custom`, else empty.
    fn values<'a>(&self, builtin: &[&'a str], custom: &[&'a str]) -> Vec<&'a str> {
        let mut values = Vec::with_capacity(builtin.len() + self.custom_labels.len());
        values.extend_from_slice(builtin);
        values.extend((0..self.custom_labels.len()).map(|i| custom.get(i).copied().unwrap_or("")));
        values
    }

    /// The `http_server_active_requests` gauge of one `http_request_method` (a known method
    /// or [`METHOD_OTHER`]).
    pub fn active_requests(&self, method: &str) -> IntGauge {
        self.active_requests.with_label_values(&[method])
    }
}

/// `builtin` followed by `custom`.
fn with_custom<'a>(builtin: &[&'a str], custom: &[&'a str]) -> Vec<&'a str> {
    builtin.iter().chain(custom).copied().collect()
}
