//! The response future: runs the inner service inside the server span and turns its response
//! into one whose body finishes the record.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderValue, Response, StatusCode};
use obs_core::names::{ERROR_TYPE_CANCELLED, ERROR_TYPE_PANIC};
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::custom_label::ResponseHead;
use crate::in_flight::Start;
use crate::request_id::X_REQUEST_ID;
use crate::span;

pin_project! {
    /// Response future of [`ObsService`](crate::ObsService).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        start: Option<Start>,
        request_id: Option<HeaderValue>,
        trace_response: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the inner service answered: the client went away, a timeout fired
            // or the handler panicked. Dropping `start` lowers the active count.
            if let Some(start) = this.project().start.take() {
                let reason = if std::thread::panicking() {
                    ERROR_TYPE_PANIC
                } else {
                    ERROR_TYPE_CANCELLED
                };
                start.fail(reason);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        start: Option<Start>,
        request_id: Option<HeaderValue>,
        trace_response: bool,
    ) -> Self {
        ResponseFuture {
            inner,
            start,
            request_id,
            trace_response,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.start.as_mut().and_then(|s| s.server.as_deref_mut()) {
            None => this.inner.poll(cx),
            Some(server) => {
                // Handler events and child spans (sqlx, redis) belong to the server span.
                let (polled, activated) = {
                    let watch = span::ActivationWatch::before_enter(server);
                    let _entered = server.span.enter();
                    // A request without a span runs in its unsampled context instead.
                    let _attached = server.unsampled.clone().map(opentelemetry::Context::attach);
                    let activated = watch.and_then(span::ActivationWatch::activated);
                    (this.inner.poll(cx), activated)
                };
                if activated.is_some() {
                    server.started = activated;
                }
                polled
            }
        };
        let result = ready!(polled);
        let Some(mut start) = this.start.take() else {
            return Poll::Ready(result.map(|res| res.map(|b| ResponseBody::new(b, None))));
        };
        match result {
            Ok(mut response) => {
                let status = response.status();
                // Looked up once for the status, `traceresponse` and the exemplar.
                let otel = start.server.as_deref().and_then(|server| {
                    span::record_status_and_look_up(
                        server,
                        status.as_u16(),
                        *this.trace_response || start.record_metrics,
                    )
                });
                let custom = &start.instruments.custom;
                if !custom.is_empty() {
                    let head = ResponseHead {
                        status,
                        headers: response.headers(),
                        extensions: response.extensions(),
                    };
                    custom.of_response(&mut start.custom, &head);
                    if let Some(server) = &start.server {
                        custom.record(&server.span, start.custom, true);
                    }
                }
                let headers = response.headers_mut();
                if let Some(id) = this.request_id.take() {
                    headers.insert(X_REQUEST_ID, id);
                }
                let (trace_response, sampled) = span::response_trace(
                    otel.as_deref(),
                    *this.trace_response,
                    start.record_metrics,
                );
                if let Some(value) = trace_response {
                    headers.insert(span::TRACERESPONSE, value);
                }
                let grpc_possible = start.post;
                let mut completion = start.respond(status.as_u16(), sampled);
                // A trailers-only gRPC response carries its status in the headers (gRPC calls
                // are always POSTs: other requests are spared the lookup).
                if grpc_possible
                    && let Some(error_type) = crate::body::grpc_error(response.headers())
                {
                    completion.set_error(error_type);
                }
                // An upgraded connection (websocket) lives on past the response: the request
                // itself ends here.
                let completion = if status == StatusCode::SWITCHING_PROTOCOLS {
                    completion.finish();
                    None
                } else {
                    Some(completion)
                };
                Poll::Ready(Ok(response.map(|b| ResponseBody::new(b, completion))))
            }
            Err(error) => {
                start.fail(short_type_name::<E>());
                Poll::Ready(Err(error))
            }
        }
    }
}

/// A bounded `error_type` for an inner service error: its type's name without the path.
pub(crate) fn short_type_name<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_names_are_short() {
        assert_eq!(super::short_type_name::<std::io::Error>(), "Error");
        assert_eq!(
            super::short_type_name::<Box<dyn std::error::Error>>(),
            "Box"
        );
    }
}
