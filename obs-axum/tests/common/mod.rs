//! Helpers shared by the obs-axum integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use obs_testkit::Exposition;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use tower::ServiceExt;

/// The value of the sample `name{labels...}` in a text exposition, if present.
/// `labels` must list every label of the series.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    Exposition::parse(text).unwrap().value(name, labels)
}

/// Every label set of `name` in a text exposition, each sorted by label name.
pub fn series(text: &str, name: &str) -> Vec<Vec<(String, String)>> {
    Exposition::parse(text)
        .unwrap()
        .series(name)
        .map(|s| s.labels.clone().into_iter().collect())
        .collect()
}

/// Sends one request through `app` and collects the whole response body.
pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    body: Body,
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

/// Sends `request` through `app` with `dispatch` as the subscriber, collects the whole
/// response body under it too (the request's record ends there), and returns the headers.
pub async fn send_traced(
    app: &Router,
    dispatch: &tracing::Dispatch,
    request: Request<Body>,
) -> http::HeaderMap {
    use tracing::instrument::WithSubscriber;
    let response = app
        .clone()
        .oneshot(request)
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    let headers = response.headers().clone();
    response
        .into_body()
        .collect()
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    headers
}

/// Keys a Faro batch uses at some depth: generated JSON made of them reaches deep into the RUM
/// receiver.
pub const FARO_KEYS: &[&str] = &[
    "meta",
    "app",
    "name",
    "page",
    "url",
    "session",
    "id",
    "browser",
    "user",
    "logs",
    "exceptions",
    "measurements",
    "events",
    "traces",
    "resourceSpans",
    "scopeSpans",
    "spans",
    "traceId",
    "spanId",
    "stacktrace",
    "frames",
    "type",
    "value",
    "values",
    "context",
    "attributes",
    "message",
    "level",
    "lcp",
    "cls",
    "rating",
    "trace",
    "trace_id",
    "filename",
    "function",
    "lineno",
    "colno",
    "kind",
    "key",
    "stringValue",
];

/// proptest settings for the generated-input tests: `cases` cases per run; a failing case is
/// shrunk (for at most a minute) and saved next to `source_file` (the test's `file!()`) in
/// `<test>.proptest-regressions`, to be committed: saved cases run first on every later run.
pub fn proptest_config(cases: u32, source_file: &'static str) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(source_file),
        // A failure is reported within about a minute, shrunk as far as it got.
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

/// Runs `test` on values of `strategy` under `config`; panics with the shrunk failing case.
pub fn check<S: Strategy>(
    config: Config,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// A Faro batch from the `todo-frontend` app holding one fetch span, whose span id is
/// `n + 1` in hex, for the receiver to forward.
pub fn browser_span_batch(n: usize) -> serde_json::Value {
    serde_json::json!({
        "meta": {"app": {"name": "todo-frontend"}, "page": {"url": "/"}},
        "traces": {"resourceSpans": [{
            "scopeSpans": [{
                "scope": {"name": "@opentelemetry/instrumentation-fetch"},
                "spans": [{
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanId": format!("{:016x}", n + 1),
                    "name": "HTTP GET",
                    "kind": 3
                }]
            }]
        }]}
    })
}

/// The RUM router of the `todo-frontend` app, forwarding browser spans to `endpoint`.
#[cfg(feature = "rum")]
pub fn forwarding_receiver(telemetry: &obs_core::Telemetry, endpoint: String) -> Router {
    obs_axum::rum::RumReceiver::new(telemetry)
        .app_names(["todo-frontend"])
        .otlp_forwarding(endpoint)
        .into_router()
}

/// Posts [`browser_span_batch`]`(n)` to the RUM receiver in `app`; asserts it is accepted.
pub async fn post_span_batch(app: &Router, n: usize) {
    let request = Request::post("/faro/collect")
        .header("content-type", "application/json")
        .body(Body::from(browser_span_batch(n).to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}
