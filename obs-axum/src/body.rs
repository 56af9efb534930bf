//! Body sizes and the response body wrapper: a request body's size known up front or counted as
//! it streams, and the response's counted, finishing the request's record when it ends or is
//! dropped.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::in_flight::Completion;
use obs_core::names::{ERROR_TYPE_BODY_ERROR, GRPC_STATUS_NAMES, MAX_DECLARED_REQUEST_BODY_LEN};

/// The size of a request's body, as the layer learns it.
#[derive(Debug)]
pub(crate) enum RequestSize {
    /// Known before the body is read: empty, or an exact size hint (what `Content-Length`
    /// gives a body received by hyper) of at most [`MAX_DECLARED_REQUEST_BODY_LEN`].
    Known(u64),
    /// Any other body in an axum `Body` (chunked, or declaring more): counted as the handler
    /// reads it.
    Counted(Arc<AtomicU64>),
    /// Neither: such a body in another body type, or sizes not recorded.
    Unknown,
}

impl RequestSize {
    /// The size of `req`'s body. The request reaches the inner service as it came: only an
    /// axum `Body` of unknown or large declared length is replaced, by one that counts the
    /// bytes read from it.
    pub(crate) fn of<B: Body + 'static>(req: &mut http::Request<B>) -> Self {
        let body = req.body();
        if body.is_end_stream() {
            return RequestSize::Known(0);
        }
        // A declared length is the client's word: taken up to a bound, counted beyond it.
        if let Some(exact) = body.size_hint().exact()
            && exact <= MAX_DECLARED_REQUEST_BODY_LEN
        {
            return RequestSize::Known(exact);
        }
        let body: &mut dyn Any = req.body_mut();
        match body.downcast_mut::<axum::body::Body>() {
            Some(body) => {
                let counter = Arc::new(AtomicU64::new(0));
                let inner = std::mem::take(body);
                *body = axum::body::Body::new(CountedBody {
                    inner,
                    counter: Arc::clone(&counter),
                });
                RequestSize::Counted(counter)
            }
            None => RequestSize::Unknown,
        }
    }

    /// The size to record, if there is one.
    pub(crate) fn bytes(&self) -> Option<u64> {
        match self {
            RequestSize::Known(n) => Some(*n),
            RequestSize::Counted(counter) => Some(counter.load(Ordering::Relaxed)),
            RequestSize::Unknown => None,
        }
    }
}

pin_project! {
    /// A request body of unknown or large declared length, counting the bytes read from it.
    #[derive(Debug)]
    struct CountedBody<B> {
        #[pin]
        inner: B,
        counter: Arc<AtomicU64>,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.counter
                .fetch_add(data.remaining() as u64, Ordering::Relaxed);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    /// The response body returned to the server: the inner body, counting bytes sent, and
    /// finishing the request's duration, sizes, span and active-request count when it ends or
    /// is dropped.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        completion: Option<Completion>,
    }

    impl<B> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before the end: the server stopped sending (client gone, HEAD, 304).
            if let Some(completion) = this.project().completion.take() {
                completion.finish();
            }
        }
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, completion: Option<Completion>) -> Self {
        ResponseBody { inner, completion }
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = this.inner.as_mut().poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(c)) = (frame.data_ref(), this.completion.as_mut()) {
                    c.add_response_bytes(data.remaining() as u64);
                }
                if let (Some(trailers), Some(c)) = (frame.trailers_ref(), this.completion.as_mut())
                    && let Some(error_type) = grpc_error(trailers)
                {
                    c.set_error(error_type);
                }
                if this.inner.is_end_stream()
                    && let Some(c) = this.completion.take()
                {
                    c.finish();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(c) = this.completion.take() {
                    c.finish_with_error(ERROR_TYPE_BODY_ERROR);
                }
            }
            Poll::Ready(None) => {
                if let Some(c) = this.completion.take() {
                    c.finish();
                }
            }
            Poll::Pending => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `error_type` of a gRPC status other than `OK` in `headers` (response headers of a
/// trailers-only response, or trailers): the code's canonical name from a fixed table.
pub(crate) fn grpc_error(headers: &http::HeaderMap) -> Option<&'static str> {
    // A name given as `&str` is parsed on every lookup; this one is parsed once.
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    let status = headers.get(GRPC_STATUS)?;
    let code = std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok());
    match code {
        Some(0) => None,
        Some(code) => Some(GRPC_STATUS_NAMES.get(code).copied().unwrap_or("UNKNOWN")),
        None => Some("UNKNOWN"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_statuses_map_to_their_names() {
        let mut h = http::HeaderMap::new();
        assert_eq!(grpc_error(&h), None);
        for (value, expected) in [
            ("0", None),
            ("5", Some("NOT_FOUND")),
            ("16", Some("UNAUTHENTICATED")),
            ("17", Some("UNKNOWN")),
            ("banana", Some("UNKNOWN")),
        ] {
            h.insert("grpc-status", value.parse().unwrap());
            assert_eq!(grpc_error(&h), expected, "{value}");
        }
    }
}
