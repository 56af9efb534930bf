//! A handler that blocks the runtime's only worker for 300 ms shows up in
//! `tokio_runtime_scheduling_delay_seconds`, exactly once, in the (0.25, 0.5] bucket.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::{Metrics, RuntimeMetrics};
use tower::ServiceExt;

fn bucket(text: &str, le: &str) -> f64 {
    common::sample(
        text,
        "tokio_runtime_scheduling_delay_seconds_bucket",
        &[("le", le)],
    )
    .unwrap_or_else(|| panic!("no bucket le={le} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocked_worker_lands_in_the_delay_histogram() {
    let metrics = Metrics::new();
    // A short interval, so a probe deadline falls within the first 10 ms of the block.
    let runtime = RuntimeMetrics::builder(&tokio::runtime::Handle::current())
        .probe_interval(Duration::from_millis(10))
        .register(&metrics)
        .unwrap();
    let app = Router::new()
        .route(
            "/block",
            get(|| async {
                // The bug being detected: blocking an async worker.
                std::thread::sleep(Duration::from_millis(300));
                "done"
            }),
        )
        .layer(ObsLayer::from_metrics(&metrics).unwrap());

    // Let the probe settle, then run the handler on the worker (not on this test thread).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let request = http::Request::get("/block").body(Body::empty()).unwrap();
    let response = tokio::spawn(app.oneshot(request)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    // The probe's late wake-up is observed once the worker is free again.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let text = metrics.encode().unwrap();
    assert_eq!(
        common::sample(&text, "tokio_runtime_workers", &[]),
        Some(1.0)
    );
    // Exactly one observation above 0.25 s, and it is at most 0.5 s.
    assert_eq!(bucket(&text, "0.5") - bucket(&text, "0.25"), 1.0, "{text}");
    assert_eq!(bucket(&text, "+Inf"), bucket(&text, "0.5"), "{text}");
    let delay = runtime.scheduling_delay();
    assert!(delay.get_sample_sum() >= 0.25, "{}", delay.get_sample_sum());
    // The probe woke up about every 10 ms around the block.
    assert!(
        delay.get_sample_count() >= 10,
        "{}",
        delay.get_sample_count()
    );
}
