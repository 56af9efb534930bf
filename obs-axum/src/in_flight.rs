//! A request in flight: what it records from the moment it arrives until its response body is
//! done, holding `http_server_active_requests` up meanwhile.

use std::sync::Arc;
use std::time::Instant;

use obs_core::{HttpServerSeries, SampledSpan};

use crate::body::RequestSize;
use crate::custom_label::CustomKey;
use crate::instruments::{Instruments, RouteEntry};
use crate::span::ServerSpan;

/// A request in flight, before its response exists.
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) instruments: Arc<Instruments>,
    pub(crate) route: Arc<RouteEntry>,
    pub(crate) method: usize,
    /// The custom label values read so far: from the request, then from the response.
    pub(crate) custom: CustomKey,
    pub(crate) started: Instant,
    pub(crate) request_size: RequestSize,
    /// `false` for paths left out of the metrics: only the span is kept.
    pub(crate) record_metrics: bool,
    pub(crate) record_sizes: bool,
    /// The server span, or the unsampled context a request without one runs in; `None`
    /// when there is neither.
    pub(crate) server: Option<Box<ServerSpan>>,
    /// Whether the request is a POST, as every gRPC call is.
    pub(crate) post: bool,
    /// Whether this request raised `http_server_active_requests`. Dropping the `Start` lowers
    /// it, whichever way the request ends (completion, cancellation, panic); it holds no
    /// handle of its own, the gauge is found by method index.
    pub(crate) active: bool,
}

impl Drop for Start {
    fn drop(&mut self) {
        if self.active {
            self.instruments.active(self.method).dec();
        }
    }
}

impl Start {
    /// The response head is here: look up its handles; the body decides when it ends.
    /// `sampled` is the server span when it is sampled: the exemplar of the duration.
    pub(crate) fn respond(self, status: u16, sampled: Option<SampledSpan>) -> Completion {
        let handles = self.record_metrics.then(|| {
            self.instruments
                .handles(&self.route, self.method, status, self.custom)
        });
        Completion {
            start: self,
            handles,
            status,
            sampled,
            response_bytes: 0,
            error_type: None,
        }
    }

    /// No response will come: the inner service failed, the handler panicked or the request
    /// was cancelled.
    pub(crate) fn fail(self, error_type: &str) {
        if let Some(server) = &self.server {
            crate::span::record_failure(&server.span, error_type);
        }
        if !self.record_metrics {
            return;
        }
        let now = Instant::now();
        self.instruments
            .failure_duration(&self.route, self.method, None, self.custom, error_type)
            .observe_with_exemplar_at(
                self.seconds(now),
                self.server.as_ref().and_then(|s| SampledSpan::of(&s.span)),
                now,
            );
    }

    /// Seconds from the request's arrival to `now`.
    fn seconds(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.started).as_secs_f64()
    }
}

/// A request whose response has started; finished when the body ends or is dropped.
#[derive(Debug)]
pub(crate) struct Completion {
    start: Start,
    /// `None` when the path is left out of the metrics.
    handles: Option<Arc<HttpServerSeries>>,
    status: u16,
    /// The server span's ids when it is sampled, for the duration's exemplar.
    sampled: Option<SampledSpan>,
    response_bytes: u64,
    /// Set when the response carries a failure in its trailers (gRPC).
    error_type: Option<&'static str>,
}

impl Completion {
    pub(crate) fn add_response_bytes(&mut self, n: u64) {
        self.response_bytes += n;
    }

    /// Marks the request as failed with `error_type`, recorded when it finishes.
    pub(crate) fn set_error(&mut self, error_type: &'static str) {
        self.error_type = Some(error_type);
    }

    /// Records duration and sizes; drops the span (ending it) and the active-request guard.
    pub(crate) fn finish(self) {
        if let Some(error_type) = self.error_type {
            return self.finish_with_error(error_type);
        }
        let Some(handles) = &self.handles else { return };
        // One clock read for the duration and the exemplar's timestamp.
        let now = Instant::now();
        handles.request_duration.observe_with_exemplar_at(
            self.start.seconds(now),
            self.sampled,
            now,
        );
        self.record_sizes(handles);
    }

    /// The body failed mid-stream: recorded with `error_type` and the status already sent.
    pub(crate) fn finish_with_error(self, error_type: &str) {
        if let Some(server) = &self.start.server {
            crate::span::record_failure(&server.span, error_type);
        }
        let Some(handles) = &self.handles else { return };
        let start = &self.start;
        let now = Instant::now();
        start
            .instruments
            .failure_duration(
                &start.route,
                start.method,
                Some(self.status),
                start.custom,
                error_type,
            )
            .observe_with_exemplar_at(start.seconds(now), self.sampled, now);
        self.record_sizes(handles);
    }

    fn record_sizes(&self, handles: &HttpServerSeries) {
        if !self.start.record_sizes {
            return;
        }
        // A body of unknown length that was not counted (see `RequestSize`) has no size.
        if let Some(request_bytes) = self.start.request_size.bytes() {
            handles.request_body_size.observe(request_bytes as f64);
        }
        handles
            .response_body_size
            .observe(self.response_bytes as f64);
    }
}
