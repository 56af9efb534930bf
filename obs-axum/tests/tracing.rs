//! A request with `traceparent` produces a server span that continues the caller's trace, and
//! the response's `traceresponse` carries the same trace id.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::Telemetry;
use obs_testkit::OtlpCollector;
use tracing::Instrument;
use tracing::instrument::WithSubscriber;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_span_continues_the_callers_trace() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("axum-svc")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/api/todos/{id}",
            get(|| async {
                tracing::info_span!("load_todo").in_scope(|| tracing::info!("loaded"));
                "todo"
            }),
        )
        .route(
            "/fail",
            get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "no") }),
        )
        .layer(ObsLayer::new(&telemetry).trusted_proxies("10.0.0.0/8".parse().unwrap()));

    let dispatch = telemetry.dispatch().clone();
    let mut request = http::Request::get("/api/todos/42?secret=1")
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .header("user-agent", "obs-test/1.0")
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.1")
        .header("x-request-id", "req-abc")
        .body(Body::empty())
        .unwrap();
    // Reached through two trusted proxies: the first hop they did not add is the client.
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 2], 40_000))));
    let headers = common::send_traced(&app, &dispatch, request).await;
    let trace_response = headers["traceresponse"].to_str().unwrap().to_owned();
    assert_eq!(headers["x-request-id"], "req-abc");

    let failing = http::Request::get("/fail").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(app, failing)
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    let generated_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated_id.len(), 32);
    drop(response);

    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(3, Duration::from_secs(10)).await;

    let server = spans
        .iter()
        .find(|s| s.name() == "GET /api/todos/{id}")
        .unwrap_or_else(|| panic!("no server span in {spans:#?}"));
    assert_eq!(server.trace_id(), CALLER_TRACE);
    assert_eq!(server.parent_span_id(), CALLER_SPAN);
    assert_eq!(server.kind(), 2, "SPAN_KIND_SERVER");
    assert_eq!(server.attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        server.attr("http.route").as_deref(),
        Some("/api/todos/{id}")
    );
    assert_eq!(server.attr("url.path").as_deref(), Some("/api/todos/42"));
    assert_eq!(server.attr("url.scheme").as_deref(), Some("http"));
    assert_eq!(server.int_attr("http.response.status_code"), Some(200));
    assert_eq!(
        server.attr("client.address").as_deref(),
        Some("203.0.113.9")
    );
    assert_eq!(
        server.attr("user_agent.original").as_deref(),
        Some("obs-test/1.0")
    );
    assert_eq!(server.attr("http.request_id").as_deref(), Some("req-abc"));
    assert_ne!(server.status_code(), 2);

    let child = spans.iter().find(|s| s.name() == "load_todo").unwrap();
    assert_eq!(child.trace_id(), CALLER_TRACE);
    assert_eq!(child.parent_span_id(), server.span_id());

    assert_eq!(
        trace_response,
        format!("00-{CALLER_TRACE}-{}-01", server.span_id())
    );

    let failed = spans.iter().find(|s| s.name() == "GET /fail").unwrap();
    assert_eq!(failed.status_code(), 2, "5xx marks the span as an error");
    assert_eq!(failed.attr("error.type").as_deref(), Some("500"));
    assert_eq!(
        failed.attr("http.request_id").as_deref(),
        Some(generated_id.as_str())
    );
    assert!(
        failed.parent_span_id().is_empty(),
        "no traceparent: a new root"
    );
}

#[tokio::test]
async fn headers_can_be_switched_off() {
    let telemetry = Telemetry::builder("quiet")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "hi" })).layer(
        ObsLayer::new(&telemetry)
            .trace_response_header(false)
            .request_id(false),
    );
    let request = http::Request::get("/").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(app, request)
        .with_subscriber(telemetry.dispatch().clone())
        .await
        .unwrap();
    assert!(response.headers().get("traceresponse").is_none());
    assert!(response.headers().get("x-request-id").is_none());
}

/// A request that starts a trace (no `traceparent`) under `ObsLayer::new` with a ratio
/// sampler: the head sampler's decision starts its span early, on the trace id it was decided
/// on, and the response's status and `traceresponse` come from that same span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_root_records_its_status_on_the_span_it_started() {
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("roots")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        // Below 1, so the decision is taken on an id (a trace is dropped once in 2^52).
        .sampler(obs_core::TraceSampler::ParentBasedTraceIdRatio(
            1.0 - f64::EPSILON,
        ))
        .build()
        .unwrap();
    assert!(telemetry.head_sampler().is_some());
    let app = Router::new()
        .route("/todos/{id}", get(|| async { "todo" }))
        .route(
            "/gone/{id}",
            get(|| async { (http::StatusCode::NOT_FOUND, "gone") }),
        )
        .layer(ObsLayer::new(&telemetry));
    let mut sent = Vec::new();
    for (path, status) in [("/todos/1", 200), ("/gone/1", 404)] {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        let headers = common::send_traced(&app, telemetry.dispatch(), request).await;
        sent.push((
            headers["traceresponse"].to_str().unwrap().to_owned(),
            status,
        ));
    }
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(2, Duration::from_secs(10)).await;
    for (trace_response, status) in sent {
        let span = spans
            .iter()
            .find(|s| trace_response == format!("00-{}-{}-01", s.trace_id(), s.span_id()))
            .unwrap_or_else(|| panic!("no span for {trace_response} in {spans:#?}"));
        assert!(span.parent_span_id().is_empty(), "a new root");
        assert_eq!(span.int_attr("http.response.status_code"), Some(status));
        assert_ne!(span.status_code(), 2, "below 500: not an error");
    }
}

/// The server span's context is taken from the thread once the span is entered, where the
/// OpenTelemetry layer activates it; a span the layer does not see activates nothing, and the
/// context current then (here an outer span's) must not be taken for the server span's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_span_hidden_from_the_exporter_takes_nothing_from_an_outer_span() {
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("hidden")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .trace_filter("info,obs_axum=off")
        .build()
        .unwrap();
    let app = Router::new()
        .route("/todos/{id}", get(|| async { "todo" }))
        .layer(ObsLayer::new(&telemetry));
    let dispatch = telemetry.dispatch().clone();
    let outer = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("outer"));
    let request = http::Request::get("/todos/1").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(app, request)
        .instrument(outer.clone())
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("traceresponse"), None);
    http_body_util::BodyExt::collect(response.into_body())
        .instrument(outer.clone())
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || drop(outer));
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();

    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["outer"]);
    assert_eq!(spans[0].int_attr("http.response.status_code"), None);
}
