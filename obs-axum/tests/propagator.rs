//! `ObsLayer::new(&telemetry)` extracts trace context with the telemetry's propagators and
//! `ClientLayer::new(&telemetry)` injects it with them, so a service built with
//! `TelemetryBuilder::build` (no global state) continues its callers' traces and passes them on,
//! in W3C trace context by default and in B3 (`OTEL_PROPAGATORS=b3` / `b3multi`) when configured.

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

/// `GET path` with `headers`, under the telemetry's dispatch (not a global one).
async fn get_with(
    app: Router,
    path: &str,
    telemetry: &Telemetry,
    headers: &[(&str, &str)],
) -> http::Response<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.oneshot(request.body(Body::empty()).unwrap())
        .with_subscriber(telemetry.dispatch().clone())
        .await
        .unwrap()
}

/// The trace id and parent of the server span of one request to `path` carrying
/// [`TRACEPARENT`]; the metrics router is merged after the layer, so it records the requests
/// no route matches.
async fn server_trace_id(propagators: Option<Vec<Propagator>>, path: &str) -> (String, String) {
    server_trace_id_with(propagators, path, &[("traceparent", TRACEPARENT)]).await
}

/// The trace id and parent of the server span of one request to `path` carrying `headers`.
async fn server_trace_id_with(
    propagators: Option<Vec<Propagator>>,
    path: &str,
    headers: &[(&str, &str)],
) -> (String, String) {
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
    let response = get_with(app, path, &telemetry, headers).await;
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

/// Serves one request carrying `headers` through an app whose handler calls a downstream
/// service through `ClientLayer::new(&telemetry)`; returns the response and the value of the
/// header `propagated` the downstream service was sent.
async fn through_the_client_layer(
    telemetry: &Telemetry,
    headers: &[(&str, &str)],
    propagated: &'static str,
) -> (http::Response<Body>, Option<String>) {
    // The downstream service: remembers the header it was sent.
    let sent = Arc::new(Mutex::new(None::<String>));
    let client = ClientLayer::new(telemetry).layer(tower::service_fn({
        let sent = Arc::clone(&sent);
        move |req: Request<Body>| {
            let header = req
                .headers()
                .get(propagated)
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
        .layer(ObsLayer::new(telemetry));
    let response = get_with(app, "/todos/1", telemetry, headers).await;
    let sent = sent.lock().unwrap().clone();
    (response, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_passes_the_trace_on_without_a_global_propagator() {
    let telemetry = Telemetry::builder("no-globals-client")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let (response, sent) =
        through_the_client_layer(&telemetry, &[("traceparent", TRACEPARENT)], "traceparent").await;
    assert_eq!(response.status(), 200);
    let sent = sent.expect("no traceparent was sent");
    // The caller's trace, with the client span as the parent of the next hop.
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "{sent}");
    assert_ne!(parts[2], "00f067aa0ba902b7", "{sent}");
}

/// The openzipkin b3-propagation example ids.
const B3_TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const B3_SPAN: &str = "e457b5a2e4d86bd1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_continues_a_b3_trace_in_either_form() {
    let single = format!("{B3_TRACE}-{B3_SPAN}-1-05e3ac9a4f6e3b90");
    let (trace_id, parent) =
        server_trace_id_with(Some(vec![Propagator::B3]), "/todos/1", &[("b3", &single)]).await;
    assert_eq!((trace_id.as_str(), parent.as_str()), (B3_TRACE, B3_SPAN));
    // `b3multi` with a 64-bit trace id, which is left-padded.
    let headers = [
        ("X-B3-TraceId", "a3ce929d0e0e4736"),
        ("X-B3-SpanId", B3_SPAN),
        ("X-B3-Sampled", "1"),
    ];
    let (trace_id, parent) =
        server_trace_id_with(Some(vec![Propagator::B3Multi]), "/todos/1", &headers).await;
    assert_eq!(trace_id, "0000000000000000a3ce929d0e0e4736");
    assert_eq!(parent, B3_SPAN);
    // Without the B3 propagator the same headers start a new trace.
    let (trace_id, parent) = server_trace_id_with(None, "/todos/1", &[("b3", &single)]).await;
    assert_ne!(trace_id, B3_TRACE);
    assert_eq!(parent, "");
}

/// The `traceresponse` of one request carrying `headers` to a service propagating B3, and the
/// `b3` header its client layer sent downstream while serving it.
async fn b3_round_trip(headers: &[(&str, &str)]) -> (String, String) {
    let telemetry = Telemetry::builder("b3-client")
        .propagators([Propagator::B3])
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let (response, sent) = through_the_client_layer(&telemetry, headers, "b3").await;
    assert_eq!(response.status(), 200);
    let trace_response = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    (trace_response, sent.expect("no b3 header was sent"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_decisions_reach_the_server_span_and_the_next_hop() {
    // Accept: the trace and the decision go on, from the client span.
    let (response, sent) = b3_round_trip(&[("b3", &format!("{B3_TRACE}-{B3_SPAN}-1"))]).await;
    assert!(
        response.starts_with(&format!("00-{B3_TRACE}-")),
        "{response}"
    );
    assert!(response.ends_with("-01"), "{response}");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 3, "{sent}");
    assert_eq!((parts[0], parts[2]), (B3_TRACE, "1"), "{sent}");
    assert_ne!(parts[1], B3_SPAN, "{sent}");

    // Debug: sampled, and debug again downstream.
    let (response, sent) = b3_round_trip(&[("b3", &format!("{B3_TRACE}-{B3_SPAN}-d"))]).await;
    assert!(response.ends_with("-01"), "{response}");
    assert!(sent.starts_with(B3_TRACE) && sent.ends_with("-d"), "{sent}");

    // Deny with ids: the caller's trace, not sampled here nor downstream.
    let (response, sent) = b3_round_trip(&[("b3", &format!("{B3_TRACE}-{B3_SPAN}-0"))]).await;
    assert!(
        response.starts_with(&format!("00-{B3_TRACE}-")),
        "{response}"
    );
    assert!(response.ends_with("-00"), "{response}");
    assert!(sent.starts_with(B3_TRACE) && sent.ends_with("-0"), "{sent}");

    // Deny without ids: a trace of its own, not sampled; the deny goes on with its ids.
    let (response, sent) = b3_round_trip(&[("b3", "0")]).await;
    assert!(response.ends_with("-00"), "{response}");
    let trace_id = &response[3..35];
    assert!(
        sent.starts_with(trace_id) && sent.ends_with("-0"),
        "{response} {sent}"
    );
    // The same service samples a request that sends no decision: the deny is what dropped it.
    let (response, _) = b3_round_trip(&[]).await;
    assert!(response.ends_with("-01"), "{response}");
}
