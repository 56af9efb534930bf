//! What the inner service does in `call` belongs to the server span: a span it opens there is
//! the server span's child, whether the layer wraps a plain tower service (entered around
//! `call`) or an axum route (whose `call` defers everything to its first poll, which runs inside
//! the span).

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use obs_axum::ObsLayer;
use obs_core::Metrics;
use tower::{Layer, Service, ServiceExt};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span's name and its parent's name.
type Opened = (String, Option<String>);

/// Every new span's name and its parent's name.
#[derive(Clone, Default)]
struct Parents(Arc<Mutex<Vec<Opened>>>);

impl<S> tracing_subscriber::Layer<S> for Parents
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.name().to_owned());
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), parent));
    }
}

impl Parents {
    /// Records the spans opened on this thread until the guard is dropped.
    fn record() -> (Self, tracing::subscriber::DefaultGuard) {
        let parents = Parents::default();
        let guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(parents.clone()));
        (parents, guard)
    }

    fn parent_of(&self, name: &str) -> Option<String> {
        let spans = self.0.lock().unwrap();
        let (_, parent) = spans
            .iter()
            .find(|(span, _)| span == name)
            .unwrap_or_else(|| panic!("no span {name:?} in {spans:?}"));
        parent.clone()
    }
}

/// Opens a span in `call`, before any future runs, and answers with its inner service.
#[derive(Clone)]
struct OpensInCall<S>(S);

impl<S, B> Service<Request<B>> for OpensInCall<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let _span = tracing::info_span!("opened in call").entered();
        self.0.call(req)
    }
}

#[derive(Clone)]
struct OpensInCallLayer;

impl<S> Layer<S> for OpensInCallLayer {
    type Service = OpensInCall<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OpensInCall(inner)
    }
}

#[tokio::test]
async fn a_plain_services_call_runs_inside_the_server_span() {
    let (parents, _default) = Parents::record();
    let metrics = Metrics::new();
    let service = ObsLayer::from_metrics(&metrics)
        .unwrap()
        .layer(OpensInCall(tower::service_fn(
            |_: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            },
        )));
    let response = service
        .oneshot(Request::get("/").body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();

    assert_eq!(parents.parent_of("HTTP request"), None);
    assert_eq!(
        parents.parent_of("opened in call").as_deref(),
        Some("HTTP request")
    );
}

#[tokio::test]
async fn an_axum_routes_middleware_and_handler_run_inside_the_server_span() {
    let (parents, _default) = Parents::record();
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/todos/{id}",
            get(|| async {
                let _span = tracing::info_span!("handler").entered();
                "ok"
            }),
        )
        // Inside the obs layer: axum calls it from the route future's first poll.
        .layer(OpensInCallLayer)
        .layer(ObsLayer::from_metrics(&metrics).unwrap());
    let response = app
        .oneshot(Request::get("/todos/1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();

    assert_eq!(parents.parent_of("HTTP request"), None);
    assert_eq!(
        parents.parent_of("opened in call").as_deref(),
        Some("HTTP request")
    );
    assert_eq!(
        parents.parent_of("handler").as_deref(),
        Some("HTTP request")
    );
}
