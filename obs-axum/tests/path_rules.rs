//! Path rules: prefix patterns, and separate choices for "no metrics" and "no span".

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use obs_axum::ObsLayer;
use obs_core::{OtlpProtocol, Telemetry};
use obs_testkit::OtlpCollector;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_spans_are_skipped_separately_by_exact_path_or_prefix() {
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("paths")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(OtlpProtocol::Grpc)
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app: Router = Router::new()
        .route("/static/{*file}", get(|| async { "js" }))
        .route("/export", get(|| async { "csv" }))
        .route("/health", get(|| async { "ok" }))
        .route("/todos", get(|| async { "[]" }))
        .layer(
            ObsLayer::new(&telemetry)
                .skip_paths(["/static/*"])
                .skip_metrics(["/export"])
                .skip_spans(["/health"]),
        );
    for path in ["/static/app.js", "/export", "/health", "/todos"] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .with_subscriber(telemetry.dispatch().clone())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.into_body().collect().await.unwrap();
    }
    let exposition = telemetry.metrics().encode().unwrap();
    let count = |route: &str| {
        common::sample(
            &exposition,
            "http_server_request_duration_seconds_count",
            &[
                ("error_type", ""),
                ("http_request_method", "GET"),
                ("http_response_status_code", "200"),
                ("http_route", route),
            ],
        )
    };
    assert_eq!(count("/todos"), Some(1.0), "{exposition}");
    assert_eq!(count("/health"), Some(1.0));
    assert_eq!(count("/export"), None);
    assert_eq!(count("/static/{*file}"), None);

    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(2, Duration::from_secs(10)).await;
    let mut names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["GET /export", "GET /todos"]);
}
