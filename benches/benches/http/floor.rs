//! The least a layer keeping obs's metrics-only record can do under `Router::layer`, as a
//! measure of what any such layer pays before its own logic: the response body wrapped (axum
//! then boxes it), two clock reads, the in-flight gauge raised and lowered, and the three
//! histograms observed when the body ends. Its series are fixed: no route, method or status is
//! looked up. Benchmark-only code, not a usable layer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use obs_core::names::{BODY_SIZE_BUCKETS, HTTP_DURATION_BUCKETS};
use obs_core::prometheus::{Histogram, HistogramOpts, IntGauge};
use pin_project_lite::pin_project;

struct Series {
    duration: Histogram,
    request_size: Histogram,
    response_size: Histogram,
    active: IntGauge,
}

#[derive(Clone)]
pub(crate) struct FloorLayer(Arc<Series>);

impl FloorLayer {
    pub(crate) fn new() -> Self {
        let histogram = |name: &str, buckets: &[f64]| {
            Histogram::with_opts(HistogramOpts::new(name, name).buckets(buckets.to_vec())).unwrap()
        };
        FloorLayer(Arc::new(Series {
            duration: histogram("duration", HTTP_DURATION_BUCKETS),
            request_size: histogram("request_size", BODY_SIZE_BUCKETS),
            response_size: histogram("response_size", BODY_SIZE_BUCKETS),
            active: IntGauge::new("active", "active").unwrap(),
        }))
    }
}

impl<S> tower::Layer<S> for FloorLayer {
    type Service = FloorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FloorService {
            inner,
            series: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub(crate) struct FloorService<S> {
    inner: S,
    series: Arc<Series>,
}

struct Record {
    series: Arc<Series>,
    started: Instant,
    request_size: u64,
    response_size: u64,
}

impl Drop for Record {
    fn drop(&mut self) {
        let series = &self.series;
        series
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        series.request_size.observe(self.request_size as f64);
        series.response_size.observe(self.response_size as f64);
        series.active.dec();
    }
}

impl<S, B, R> tower::Service<Request<B>> for FloorService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    B: Body,
{
    type Response = Response<FloorBody<R>>;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let started = Instant::now();
        let request_size = req.body().size_hint().exact().unwrap_or(0);
        self.series.active.inc();
        FloorFuture {
            inner: self.inner.call(req),
            record: Some(Record {
                series: Arc::clone(&self.series),
                started,
                request_size,
                response_size: 0,
            }),
        }
    }
}

pin_project! {
    pub(crate) struct FloorFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F, R, E> Future for FloorFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<FloorBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let record = this.record.take();
        Poll::Ready(Ok(response.map(|inner| FloorBody { inner, record })))
    }
}

pin_project! {
    pub(crate) struct FloorBody<B> {
        #[pin]
        inner: B,
        record: Option<Record>,
    }
}

impl<B: Body> Body for FloorBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let (Some(Ok(frame)), Some(record)) = (&frame, this.record.as_mut())
            && let Some(data) = frame.data_ref()
        {
            record.response_size += bytes::Buf::remaining(data) as u64;
        }
        if frame.is_none() || this.inner.is_end_stream() {
            // Dropping the record observes it.
            this.record.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
