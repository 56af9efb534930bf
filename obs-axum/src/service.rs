//! [`ObsService`]: the middleware itself.

use std::any::TypeId;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use http_body::Body;
use obs_core::names::ROUTE_UNMATCHED;
use tower_service::Service;

use crate::body::{RequestSize, ResponseBody};
use crate::custom_label::CustomKey;
use crate::future::ResponseFuture;
use crate::in_flight::Start;
use crate::layer::{self, Observed, Shared};
use crate::route::RouteRequest;
use crate::span::SpanRequest;
use crate::{request_id, span};

/// Records HTTP server metrics and opens a server span for every request to `S`.
/// Created by [`ObsLayer`](crate::ObsLayer).
#[derive(Debug, Clone)]
pub struct ObsService<S> {
    inner: S,
    shared: Arc<Shared>,
    /// Whether `inner.call` runs inside the server span; see [`calls_lazily`].
    enter_on_call: bool,
}

impl<S: 'static> ObsService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        ObsService {
            inner,
            shared,
            enter_on_call: !calls_lazily::<S>(),
        }
    }
}

/// Whether `S::call` only builds a future and runs nothing of the request until it is polled.
///
/// axum's `Route` (what `Router::layer` and `route_layer` wrap) and `Router` call the service
/// below them, handler or middleware, from their future's first poll, and that poll runs
/// inside the server span anyway. Entering the span around their `call` as well would cost a
/// second enter and exit on every request (with tracing-opentelemetry, a context attached and
/// detached and a clock read) for nothing. Any other service is called inside the span, so a
/// span it opens in `call` is the server span's child.
fn calls_lazily<S: 'static>() -> bool {
    let ty = TypeId::of::<S>();
    ty == TypeId::of::<axum::routing::Route>() || ty == TypeId::of::<axum::Router>()
}

impl<S> ObsService<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The inner service gets the request as it came, but for an axum `Body` of unknown length
/// (chunked), which is replaced by one that counts the bytes read from it.
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ObsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + 'static,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &self.shared;
        let config = &shared.config;
        // An outer layer has recorded (or deliberately skipped) this request already. Only an
        // `only_unobserved` layer reads the marker; with none in the process it is left out.
        let observed = layer::marker_read() && req.extensions_mut().insert(Observed).is_some();
        let (no_metrics, no_span) = config.skips(req.uri().path());
        let pass = (observed && config.only_unobserved) || (no_metrics && no_span);
        let instruments = match &shared.instruments {
            Some(instruments) if !pass => instruments,
            _ => return ResponseFuture::new(self.inner.call(req), None, None, false),
        };

        let started = Instant::now();
        let post = req.method() == http::Method::POST;
        let method = instruments.methods.index(req.method());
        let (route, custom) = {
            let parts = RouteRequest {
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
                extensions: req.extensions(),
            };
            let found = config.extractor.extract(&parts);
            let route = instruments.route(found.as_deref().unwrap_or(ROUTE_UNMATCHED));
            let custom = if instruments.custom.is_empty() {
                CustomKey::default()
            } else {
                instruments.custom.of_request(&parts)
            };
            (route, custom)
        };
        let request_id = config
            .request_id
            .then(|| request_id::ensure(req.headers_mut()));
        // Boxed, and left out when there is neither span nor context: the response future is
        // moved several times on its way through the server, and metrics alone stay small.
        let server = (config.spans && !no_span)
            .then(|| {
                span::make_span(&SpanRequest {
                    req: &req,
                    instruments,
                    route: &route,
                    method,
                    request_id: request_id.as_ref(),
                    config,
                })
            })
            .filter(|s| !s.span.is_disabled() || s.unsampled.is_some())
            .map(Box::new);
        if !instruments.custom.is_empty()
            && let Some(server) = &server
        {
            instruments.custom.record(&server.span, custom, false);
        }
        let request_size = if config.body_sizes && !no_metrics {
            RequestSize::of(&mut req)
        } else {
            RequestSize::Unknown
        };
        let future = match &server {
            Some(server) if self.enter_on_call => {
                let _entered = server.span.enter();
                let _attached = server.unsampled.clone().map(opentelemetry::Context::attach);
                self.inner.call(req)
            }
            _ => self.inner.call(req),
        };
        // Lowered when `start` is dropped.
        if !no_metrics {
            instruments.active(method).inc();
        }
        let start = Start {
            instruments: Arc::clone(instruments),
            route,
            method,
            custom,
            started,
            request_size,
            record_metrics: !no_metrics,
            record_sizes: config.body_sizes,
            server,
            post,
            active: !no_metrics,
        };
        ResponseFuture::new(future, Some(start), request_id, config.trace_response)
    }
}
