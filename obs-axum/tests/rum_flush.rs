//! Browser spans still queued for forwarding when the telemetry shuts down reach the
//! collector: the forwarder runs on obs-core's exporter runtime and the guard flushes it.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use obs_axum::rum::RumReceiver;
use obs_core::Telemetry;
use obs_testkit::OtlpCollector;
use tower::ServiceExt;

/// Batches posted back to back just before shutdown, one span each: as many as the queue
/// holds (64) but a few, so none is dropped however slow the forwarder is.
const BATCHES: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_queued_before_shutdown_reach_the_collector() {
    let collector = OtlpCollector::start_http().await;
    let telemetry = Telemetry::builder("rum-flush")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = common::forwarding_receiver(&telemetry, collector.endpoint());
    for n in 0..BATCHES {
        common::post_span_batch(&app, n).await;
    }
    // Straight to shutdown: batches are still queued. Without the flush the runtime would
    // stop under them and they would be lost.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let mut ids: Vec<String> = collector.spans().iter().map(|s| s.span_id()).collect();
    ids.sort();
    let expected: Vec<String> = (0..BATCHES).map(|n| format!("{:016x}", n + 1)).collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_built_after_shutdown_serves_without_forwarding() {
    let collector = OtlpCollector::start_http().await;
    let telemetry = Telemetry::builder("rum-late")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let receiver = RumReceiver::new(&telemetry).otlp_forwarding(collector.endpoint());
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let app: Router = receiver.into_router();
    let request = Request::post("/faro/collect")
        .header("content-type", "application/json")
        .body(Body::from(common::browser_span_batch(0).to_string()))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(collector.spans().is_empty());
}
