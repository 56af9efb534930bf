//! [`ResponseFuture`]: runs the call inside the client span and records how it ended.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::Response;
use pin_project_lite::pin_project;

use crate::client::layer::Instruments;
use crate::span::{record_failure, record_status};

/// A call in flight.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) instruments: Option<Arc<Instruments>>,
    pub(crate) method: usize,
    pub(crate) address: usize,
    pub(crate) port: u16,
    pub(crate) started: Instant,
    pub(crate) span: tracing::Span,
}

impl Pending {
    fn fail(self, error_type: &str) {
        record_failure(&self.span, error_type);
        if let Some(i) = &self.instruments {
            let seconds = self.started.elapsed().as_secs_f64();
            i.failure(self.method, self.address, self.port, error_type, seconds);
        }
    }

    fn respond(self, status: u16) {
        let seconds = self.started.elapsed().as_secs_f64();
        if !self.span.is_disabled() {
            // The client conventions mark 4xx as errors too; `record_status` covers 5xx.
            record_status(&self.span, status);
            if (400..500).contains(&status) {
                record_failure(&self.span, &status.to_string());
            }
        }
        if let Some(i) = &self.instruments {
            i.response(self.method, self.address, self.port, status)
                .observe(seconds);
        }
    }
}

pin_project! {
    /// Response future of [`ClientService`](crate::client::ClientService).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before an answer: a timeout fired or the caller gave up.
            if let Some(pending) = this.project().pending.take() {
                pending.fail(obs_core::names::ERROR_TYPE_CANCELLED);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, pending: Pending) -> Self {
        ResponseFuture {
            inner,
            pending: Some(pending),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::error::Error + 'static,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = {
            let _entered = this.pending.as_ref().map(|p| p.span.enter());
            this.inner.poll(cx)
        };
        let result = ready!(polled);
        if let Some(pending) = this.pending.take() {
            match &result {
                Ok(response) => pending.respond(response.status().as_u16()),
                Err(error) => pending.fail(&error_type(error)),
            }
        }
        Poll::Ready(result)
    }
}

/// A bounded name for a failed call: the [`std::io::ErrorKind`] of the first I/O error in the
/// source chain (`ConnectionRefused`, `TimedOut`, …), else the error's type name.
fn error_type<E: std::error::Error + 'static>(error: &E) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return format!("{:?}", io.kind());
        }
        current = e.source();
    }
    crate::future::short_type_name::<E>().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn io_errors_are_named_by_kind_else_by_type() {
        let refused = Wrapper(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(error_type(&refused), "ConnectionRefused");
        assert_eq!(error_type(&std::fmt::Error), "Error");
    }
}
