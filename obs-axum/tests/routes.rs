//! `http_route` is the route template, `unmatched` for unknown paths, and the full template for
//! nested routers; unknown methods become `_OTHER`.

#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{sample, send, series};
use obs_axum::ObsLayer;
use obs_core::Metrics;
use obs_core::names::HTTP_SERVER_REQUEST_DURATION;

fn app(metrics: &Metrics) -> Router {
    let api = Router::new()
        .route(
            "/todos/{id}",
            get(|| async { "todo" }).delete(|| async { "" }),
        )
        .route("/todos", get(|| async { "[]" }));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .nest("/api", api)
        .layer(
            ObsLayer::from_metrics(metrics)
                .unwrap()
                .skip_paths(["/health"]),
        )
}

fn count(text: &str, method: &str, route: &str, status: &str) -> f64 {
    sample(
        text,
        &format!("{HTTP_SERVER_REQUEST_DURATION}_count"),
        &[
            ("http_request_method", method),
            ("http_route", route),
            ("http_response_status_code", status),
            ("error_type", ""),
        ],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn paths_collapse_to_their_route_template() {
    let metrics = Metrics::new();
    let app = app(&metrics);
    send(&app, "GET", "/api/todos/123", Body::empty()).await;
    send(&app, "GET", "/api/todos/abc", Body::empty()).await;
    send(&app, "GET", "/api/todos", Body::empty()).await;
    let (status, _, _) = send(&app, "GET", "/nope/42", Body::empty()).await;
    assert_eq!(status, 404);
    send(&app, "GET", "/health", Body::empty()).await;
    let (status, _, _) = send(&app, "BREW", "/api/todos/1", Body::empty()).await;
    assert_eq!(status, 405);

    let text = metrics.encode().unwrap();
    assert_eq!(count(&text, "GET", "/api/todos/{id}", "200"), 2.0, "{text}");
    assert_eq!(count(&text, "GET", "/api/todos", "200"), 1.0);
    assert_eq!(count(&text, "GET", "unmatched", "404"), 1.0);
    assert_eq!(count(&text, "_OTHER", "/api/todos/{id}", "405"), 1.0);
    // Skipped paths leave no trace, and raw paths never appear.
    assert!(!text.contains("/health"));
    assert!(!text.contains("/api/todos/123"));
    assert!(!text.contains("BREW"));
    let all = series(&text, &format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
    assert_eq!(all.len(), 4, "{all:?}");
}

#[tokio::test]
async fn server_errors_carry_their_status_as_error_type() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/boom",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }),
        )
        .layer(ObsLayer::from_metrics(&metrics).unwrap());
    send(&app, "GET", "/boom", Body::empty()).await;
    let text = metrics.encode().unwrap();
    let v = sample(
        &text,
        &format!("{HTTP_SERVER_REQUEST_DURATION}_count"),
        &[
            ("http_request_method", "GET"),
            ("http_route", "/boom"),
            ("http_response_status_code", "503"),
            ("error_type", "503"),
        ],
    );
    assert_eq!(v, Some(1.0), "{text}");
}

#[tokio::test]
async fn custom_route_extractor_for_non_axum_stacks() {
    use std::borrow::Cow;
    let metrics = Metrics::new();
    let layer = ObsLayer::from_metrics(&metrics).unwrap().route_extractor(
        |req: &obs_axum::RouteRequest<'_>| {
            req.uri
                .path()
                .starts_with("/users/")
                .then_some(Cow::Borrowed("/users/{id}"))
        },
    );
    // A plain tower service, no axum router: the layer only needs http types.
    let svc =
        tower::ServiceBuilder::new()
            .layer(layer)
            .service_fn(|_req: http::Request<Body>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("hi")))
            });
    use tower::ServiceExt;
    for path in ["/users/1", "/users/2", "/other"] {
        let req = http::Request::get(path).body(Body::empty()).unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap();
    }
    let text = metrics.encode().unwrap();
    assert_eq!(count(&text, "GET", "/users/{id}", "200"), 2.0, "{text}");
    assert_eq!(count(&text, "GET", "unmatched", "200"), 1.0);
}

#[tokio::test]
async fn known_methods_can_be_replaced() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route("/x", axum::routing::any(|| async { "x" }))
        .layer(
            ObsLayer::from_metrics(&metrics)
                .unwrap()
                .known_methods(["GET", "PURGE"]),
        );
    send(&app, "PURGE", "/x", Body::empty()).await;
    send(&app, "POST", "/x", Body::empty()).await;
    let text = metrics.encode().unwrap();
    assert_eq!(count(&text, "PURGE", "/x", "200"), 1.0, "{text}");
    assert_eq!(count(&text, "_OTHER", "/x", "200"), 1.0);
}
