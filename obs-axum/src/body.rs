//! Body wrappers: count bytes as they stream, and finish the request's record when the response
//! body ends or is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::in_flight::Completion;
use obs_core::names::{ERROR_TYPE_BODY_ERROR, GRPC_STATUS_NAMES};

pin_project! {
    /// The request body handed to the inner service: the original body, counting the bytes
    /// read from it.
    #[derive(Debug)]
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        counter: Option<Arc<AtomicU64>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, counter: Option<Arc<AtomicU64>>) -> Self {
        RequestBody { inner, counter }
    }
}

impl<B: Body> Body for RequestBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let (Poll::Ready(Some(Ok(frame))), Some(counter)) = (&frame, this.counter.as_ref())
            && let Some(data) = frame.data_ref()
        {
            counter.fetch_add(data.remaining() as u64, Ordering::Relaxed);
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
