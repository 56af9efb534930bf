//! `ObsLayer::new(&telemetry)` extracts trace context with the telemetry's propagators and
//! `ClientLayer::new(&telemetry)` injects it with them, so a service built with
//! `TelemetryBuilder::build` (no global state) continues its callers' traces and passes them on.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use obs_axum::{ClientLayer, ObsLayer};
use obs_core::{OtlpProtocol, Propagator, Telemetry};
use obs_testkit::OtlpCollector;
use tower::{Layer, ServiceExt};
use tracing::instrument::WithSubscriber;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `GET path` with [`TRACEPARENT`], under the telemetry's dispatch (not a global one).
async fn get_with_traceparent(
    app: Router,
    path: &str,
    telemetry: &Telemetry,
) -> http::Response<Body> {
    let request = Request::get(path)
        .header("traceparent", TRACEPARENT)
        .body(Body::empty())
        .unwrap();
    app.oneshot(request)
        .with_subscriber(telemetry.dispatch().clone())
        .await
        .unwrap()
}

/// The trace id and parent of the server span of one request to `path` carrying
/// [`TRACEPARENT`]; the metrics router is merged after the layer, so it records the requests
/// no route matches.
async fn server_trace_id(propagators: Option<Vec<Propagator>>, path: &str) -> (String, String) {
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
        .layer(ObsLayer::new(&telemetry))
        .merge(obs_axum::metrics_router(&telemetry));
    let response = get_with_traceparent(app, path, &telemetry).await;
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
    let (trace_id, parent) = server_trace_id(None, "/todos/1").await;
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parent, "00f067aa0ba902b7");
    // With no propagators the caller's context is not read: a new trace starts.
    let (trace_id, parent) = server_trace_id(Some(Vec::new()), "/todos/1").await;
    assert_ne!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parent, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_routers_layer_uses_the_telemetrys_propagator() {
    // Recorded by the metrics router's own layer, not the application's.
    let (trace_id, parent) = server_trace_id(None, "/nowhere").await;
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parent, "00f067aa0ba902b7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_passes_the_trace_on_without_a_global_propagator() {
    let telemetry = Telemetry::builder("no-globals-client")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    // The downstream service: remembers the `traceparent` it was sent.
    let sent = Arc::new(Mutex::new(None::<String>));
    let client = ClientLayer::new(&telemetry).layer(tower::service_fn({
        let sent = Arc::clone(&sent);
        move |req: Request<Body>| {
            let header = req
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            *sent.lock().unwrap() = header;
            async { Ok::<_, std::io::Error>(http::Response::new(Body::empty())) }
        }
    }));
    let app: Router = Router::new()
        .route(
            "/todos/{id}",
            get(move || async move {
                let request = Request::get("http://payments.internal/charges/1")
                    .body(Body::empty())
                    .unwrap();
                client.oneshot(request).await.unwrap();
                "todo"
            }),
        )
        .layer(ObsLayer::new(&telemetry));
    let response = get_with_traceparent(app, "/todos/1", &telemetry).await;
    assert_eq!(response.status(), 200);
    let sent = sent
        .lock()
        .unwrap()
        .clone()
        .expect("no traceparent was sent");
    // The caller's trace, with the client span as the parent of the next hop.
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{sent}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "{sent}");
}
