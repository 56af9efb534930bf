//! `/metrics` serves the text format, gzip when accepted, behind an optional bearer token, and
//! its output passes `promtool check metrics`.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::{MetricsRoute, ObsLayer};
use obs_core::Telemetry;

fn app(telemetry: &Telemetry) -> Router {
    Router::new()
        .route("/todos/{id}", get(|| async { "todo" }))
        .layer(ObsLayer::new(telemetry).skip_paths(["/metrics"]))
        .merge(obs_axum::metrics_router(telemetry))
}

#[tokio::test]
async fn exposition_passes_promtool() {
    let telemetry = Telemetry::builder("metrics-svc")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);
    for id in 0..3 {
        common::send(&app, "GET", &format!("/todos/{id}"), Body::empty()).await;
    }
    common::send(&app, "GET", "/missing", Body::empty()).await;
    let (status, headers, body) = common::send(&app, "GET", "/metrics", Body::empty()).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        common::sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                ("error_type", ""),
                ("http_request_method", "GET"),
                ("http_response_status_code", "200"),
                ("http_route", "/todos/{id}")
            ]
        ),
        Some(3.0),
        "{text}"
    );
    assert!(text.contains("obs_build_info"));
    if let Err(complaints) = obs_testkit::promtool_check_metrics(&text).await {
        panic!("promtool check metrics:\n{complaints}\n{text}");
    }
}

#[tokio::test]
async fn gzip_when_accepted() {
    let telemetry = Telemetry::builder("gzip-svc")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);
    common::send(&app, "GET", "/todos/1", Body::empty()).await;
    let request = http::Request::get("/metrics")
        .header("accept-encoding", "gzip, deflate")
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("http_route=\"/todos/{id}\""), "{text}");
    assert!(compressed.len() < text.len());
}

#[tokio::test]
async fn bearer_token_protects_the_endpoint() {
    let metrics = obs_core::Metrics::new();
    let app: Router = MetricsRoute::new(&metrics)
        .path("/internal/metrics")
        .bearer_token("s3cret")
        .into_router();
    let call = |auth: Option<&'static str>| {
        let app = app.clone();
        async move {
            let mut req = http::Request::get("/internal/metrics");
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            tower::ServiceExt::oneshot(app, req.body(Body::empty()).unwrap())
                .await
                .unwrap()
        }
    };
    let denied = call(None).await;
    assert_eq!(denied.status(), 401);
    assert!(denied.headers().contains_key("www-authenticate"));
    assert_eq!(call(Some("Bearer wrong")).await.status(), 401);
    assert_eq!(call(Some("Bearer s3cret")).await.status(), 200);
}

#[tokio::test]
async fn separate_listener() {
    let metrics = obs_core::Metrics::new();
    metrics.http_server().unwrap().active_requests("GET").set(5);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(MetricsRoute::new(&metrics).serve(listener));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let res = client
        .get(format!("http://{addr}/metrics").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        common::sample(
            &text,
            "http_server_active_requests",
            &[("http_request_method", "GET")]
        ),
        Some(5.0),
        "{text}"
    );
}
