//! The HTTP client metric family.

use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The HTTP client family of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::http_client`](crate::Metrics::http_client)).
///
/// Record through [`HttpClientMetrics::request_duration`], which names its labels; look the
/// handle up once per label set and keep it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpClientMetrics {
    /// `http_client_request_duration_seconds`, labels [`HTTP_CLIENT_DURATION_LABELS`].
    pub request_duration_family: HistogramVec,
}

impl HttpClientMetrics {
    pub(crate) fn register(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let request_duration_family = HistogramVec::new(
            HistogramOpts::new(
                HTTP_CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests.",
            )
            .buckets(buckets.http_duration.clone()),
            &HTTP_CLIENT_DURATION_LABELS,
        )?;
        registry.register(Box::new(request_duration_family.clone()))?;
        Ok(HttpClientMetrics {
            request_duration_family,
        })
    }

    /// The `http_client_request_duration_seconds` series of one label set. Pass bounded
    /// values only: a normalised method, an allow-listed address (or
    /// [`SERVER_ADDRESS_OTHER`]), and empty strings for absent labels.
    pub fn request_duration(
        &self,
        method: &str,
        server_address: &str,
        server_port: &str,
        status_code: &str,
        error_type: &str,
    ) -> Histogram {
        self.request_duration_family.with_label_values(&[
            method,
            server_address,
            server_port,
            status_code,
            error_type,
        ])
    }
}
