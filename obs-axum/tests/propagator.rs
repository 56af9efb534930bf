//! `ObsLayer::new(&telemetry)` extracts trace context with the telemetry's propagators, so a
//! service built with `TelemetryBuilder::build` (no global state) continues its callers' traces.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use obs_axum::ObsLayer;
use obs_core::{OtlpProtocol, Propagator, Telemetry};
use obs_testkit::OtlpCollector;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The trace id of the server span of one request carrying [`TRACEPARENT`].
async fn server_trace_id(propagators: Option<Vec<Propagator>>) -> (String, String) {
    let collector = OtlpCollector::start_grpc().await;
    let mut builder = Telemetry::builder("no-globals")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(OtlpProtocol::Grpc)
        .log_writer(std::io::sink);
    if let Some(p) = propagators {
        builder = builder.propagators(p);
    }
    let telemetry = builder.build().unwrap();
    let app: Router = Router::new()
        .route("/todos/{id}", get(|| async { "todo" }))
        .layer(ObsLayer::new(&telemetry));
    let request = Request::get("/todos/1")
        .header("traceparent", TRACEPARENT)
        .body(Body::empty())
        .unwrap();
    let response = app
        .oneshot(request)
        .with_subscriber(telemetry.dispatch().clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The server span ends with the response body.
    drop(response);
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 1);
    (spans[0].trace_id(), spans[0].parent_span_id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_uses_the_telemetrys_propagator_without_a_global_one() {
    let (trace_id, parent) = server_trace_id(None).await;
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parent, "00f067aa0ba902b7");
    // With no propagators the caller's context is not read: a new trace starts.
    let (trace_id, parent) = server_trace_id(Some(Vec::new())).await;
    assert_ne!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parent, "");
}
