//! The Faro RUM receiver: every status code it answers with, gzip, CORS, idempotency, web-vital
//! histograms and their bounded labels, exceptions, and arbitrary input that never panics.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::Cell;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use obs_axum::rum::RumReceiver;
use obs_core::{Metrics, Telemetry};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

const PATH: &str = "/faro/collect";

fn receiver(metrics: &Metrics) -> RumReceiver {
    RumReceiver::from_metrics(metrics)
        .unwrap()
        .app_names(["todo-frontend"])
        .page_routes(["/", "/todos/{id}"])
        .event_names(["signup", "login"])
}

async fn post(
    app: &Router,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::post(PATH);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

async fn post_json(app: &Router, payload: &Value) -> StatusCode {
    post(
        app,
        &[("content-type", "application/json")],
        payload.to_string(),
    )
    .await
    .0
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn meta(app: &str, url: &str) -> Value {
    json!({
        "sdk": {"name": "@grafana/faro-web-sdk", "version": "2.12.1"},
        "app": {"name": app, "version": "1.0.0"},
        "session": {"id": "sess-1", "attributes": {"isSampled": "true"}},
        "page": {"url": url},
        "browser": {"name": "Chrome", "brands": "unknown", "viewportWidth": "1280"}
    })
}

fn vital(name: &str, value: f64, rating: &str, id: &str) -> Value {
    json!({
        "type": "web-vitals",
        "values": {name: value, "delta": value},
        "timestamp": "2026-11-27T10:15:55.917Z",
        "context": {"rating": rating, "id": id, "navigation_type": "navigate"}
    })
}

fn sample(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::sample(&metrics.encode().unwrap(), name, labels)
}

fn series_count(metrics: &Metrics, name: &str) -> usize {
    common::series(&metrics.encode().unwrap(), name).len()
}

#[tokio::test]
async fn accepted_batch_is_202_ok() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    let payload = json!({
        "meta": meta("todo-frontend", "https://todo.example/"),
        "logs": [{"message": "hello", "level": "info", "timestamp": "2026-11-27T10:15:55.917Z"}],
        "events": [{"name": "signup", "attributes": {"plan": "free"}}],
        "unknownKey": {"ignored": true}
    });
    let (status, _, body) = post(&app, &[], payload.to_string()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body, "ok");
    assert_eq!(
        sample(&metrics, "obs_rum_items_received_total", &[("kind", "log")]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "browser_events_total",
            &[("app_name", "todo-frontend"), ("event_name", "signup")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn preflight_from_allowed_origin_is_204() {
    let metrics = Metrics::new();
    let app = receiver(&metrics)
        .allowed_origins(["https://todo.example"])
        .into_router();
    let request = Request::options(PATH)
        .header("origin", "https://todo.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "https://todo.example");
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let metrics = Metrics::new();
    let app = receiver(&metrics)
        .allowed_origins(["https://todo.example"])
        .into_router();
    // A preflight from elsewhere is refused.
    let request = Request::options(PATH)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let payload = json!({"meta": meta("todo-frontend", "/")}).to_string();
    let (status, headers, _) =
        post(&app, &[("origin", "https://todo.example")], payload.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://todo.example"
    );
    let (_, headers, _) = post(&app, &[("origin", "https://evil.example")], payload).await;
    assert!(!headers.contains_key("access-control-allow-origin"));
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "origin")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn bad_json_is_400() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    for body in ["{", "[]", "null", "", r#"{"logs": "not a list"}"#] {
        let (status, _, _) = post(&app, &[], body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}");
    }
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "bad_json")]
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn bad_gzip_is_400() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    let (status, _, _) = post(&app, &[("content-encoding", "gzip")], "{\"meta\":{}}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut truncated = gzip(br#"{"meta":{"app":{"name":"todo-frontend"}}}"#);
    truncated.truncate(truncated.len() / 2);
    let (status, _, _) = post(&app, &[("content-encoding", "gzip")], truncated).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "bad_gzip")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn gzip_body_is_accepted() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    let payload = json!({
        "meta": meta("todo-frontend", "https://todo.example/"),
        "measurements": [vital("lcp", 1200.0, "good", "v4-gzip")]
    });
    let body = gzip(payload.to_string().as_bytes());
    let (status, _, body) = post(
        &app,
        &[
            ("content-encoding", "gzip"),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, "ok"));
    let labels = [
        ("app_name", "todo-frontend"),
        ("page_route", "/"),
        ("rating", "good"),
    ];
    assert_eq!(
        sample(&metrics, "browser_web_vital_lcp_seconds_count", &labels),
        Some(1.0)
    );
}

#[tokio::test]
async fn wrong_or_missing_api_key_is_401() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).api_key("s3cret").into_router();
    let body = json!({"meta": meta("todo-frontend", "/")}).to_string();
    let (status, _, _) = post(&app, &[], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = post(&app, &[("x-api-key", "s3creT")], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = post(&app, &[("x-api-key", "s3cret")], body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Without a configured key, no key is needed.
    let open = receiver(&Metrics::new()).into_router();
    assert_eq!(post(&open, &[], body).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "unauthorized")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).max_body_bytes(1024).into_router();
    let big = format!(r#"{{"logs":[{{"message":"{}"}}]}}"#, "x".repeat(2000));
    let (status, _, _) = post(&app, &[], big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Also when the length is not declared up front (a stream).
    let stream = Body::from_stream(futures_util::stream::iter(
        big.into_bytes()
            .chunks(100)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    ));
    let (status, _, _) = post(&app, &[], stream).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn gzip_bomb_is_413_after_decompression() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    // 64 MiB of spaces around an empty object: about 64 KiB compressed, well under the limit.
    let mut json = vec![b' '; 64 * 1024 * 1024];
    json[0] = b'{';
    *json.last_mut().unwrap() = b'}';
    let bomb = gzip(&json);
    drop(json);
    assert!(bomb.len() < obs_axum::rum::DEFAULT_MAX_BODY_BYTES / 10);
    let (status, _, _) = post(&app, &[("content-encoding", "gzip")], bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "too_large")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn rate_limited_is_429_with_retry_after() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).rate_limit(0.5, 2).into_router();
    let body = json!({"meta": meta("todo-frontend", "/")}).to_string();
    assert_eq!(post(&app, &[], body.clone()).await.0, StatusCode::ACCEPTED);
    assert_eq!(post(&app, &[], body.clone()).await.0, StatusCode::ACCEPTED);
    let (status, headers, _) = post(&app, &[], body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(retry_after, 2, "one token at 0.5/s takes 2 s");
}

#[tokio::test]
async fn per_app_rate_limit_gives_each_app_a_bucket() {
    let metrics = Metrics::new();
    let app = receiver(&metrics)
        .rate_limit(0.1, 1)
        .per_app_rate_limit(true)
        .into_router();
    let ours = json!({"meta": meta("todo-frontend", "/")}).to_string();
    let theirs = json!({"meta": meta("someone-else", "/")}).to_string();
    assert_eq!(post(&app, &[], ours.clone()).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        post(&app, &[], theirs.clone()).await.0,
        StatusCode::ACCEPTED
    );
    let (status, headers, _) = post(&app, &[], ours).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "10");
    assert_eq!(
        post(&app, &[], theirs).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn repeated_idempotency_key_is_processed_once() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    let payload = json!({
        "meta": meta("todo-frontend", "/"),
        "exceptions": [{"type": "TypeError", "value": "x is undefined"}]
    })
    .to_string();
    let key = [("idempotency-key", "a1b2c3d4e5f6g7h8i9j0")];
    for _ in 0..3 {
        let (status, _, body) = post(&app, &key, payload.clone()).await;
        assert_eq!((status, body.as_str()), (StatusCode::ACCEPTED, "ok"));
    }
    let labels = [("app_name", "todo-frontend"), ("error_type", "TypeError")];
    assert_eq!(
        sample(&metrics, "browser_exceptions_total", &labels),
        Some(1.0)
    );
    // Another batch is new work.
    post(
        &app,
        &[("idempotency-key", "zzzzzzzzzzzzzzzzzzzz")],
        payload,
    )
    .await;
    assert_eq!(
        sample(&metrics, "browser_exceptions_total", &labels),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "duplicate_batch")]
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn web_vitals_become_histograms_in_seconds() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    let payload = json!({
        "meta": meta("todo-frontend", "https://todo.example/todos/42?tab=1"),
        "measurements": [
            vital("lcp", 2300.0, "good", "v4-1"),
            vital("fcp", 1900.0, "needs-improvement", "v4-2"),
            vital("ttfb", 120.0, "good", "v4-3"),
            vital("inp", 600.0, "poor", "v4-4"),
            vital("cls", 0.12, "needs-improvement", "v4-5"),
            vital("lcp", 100.0, "excellent", "v4-6"),
            {"type": "custom", "values": {"cart_size": 3}}
        ]
    });
    assert_eq!(post_json(&app, &payload).await, StatusCode::ACCEPTED);
    let labels = |rating| {
        [
            ("app_name", "todo-frontend"),
            ("page_route", "/todos/{id}"),
            ("rating", rating),
        ]
    };
    let sum =
        |name: &str, rating| sample(&metrics, &format!("{name}_sum"), &labels(rating)).unwrap();
    assert!((sum("browser_web_vital_lcp_seconds", "good") - 2.3).abs() < 1e-9);
    assert!((sum("browser_web_vital_fcp_seconds", "needs-improvement") - 1.9).abs() < 1e-9);
    assert!((sum("browser_web_vital_ttfb_seconds", "good") - 0.12).abs() < 1e-9);
    assert!((sum("browser_web_vital_inp_seconds", "poor") - 0.6).abs() < 1e-9);
    assert!((sum("browser_web_vital_cls", "needs-improvement") - 0.12).abs() < 1e-9);
    assert!((sum("browser_web_vital_lcp_seconds", "other") - 0.1).abs() < 1e-9);
    // The 2.3 s LCP lands in the 2.5 s bucket, not the 2 s one.
    let mut bucket = labels("good").to_vec();
    bucket.push(("le", "2"));
    assert_eq!(
        sample(&metrics, "browser_web_vital_lcp_seconds_bucket", &bucket),
        Some(0.0)
    );
    bucket.pop();
    bucket.push(("le", "2.5"));
    assert_eq!(
        sample(&metrics, "browser_web_vital_lcp_seconds_bucket", &bucket),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_items_received_total",
            &[("kind", "measurement")]
        ),
        Some(7.0)
    );
    // A page outside the patterns and an app outside the allow-list become `other`.
    let payload = json!({
        "meta": meta("unknown-app", "https://todo.example/admin/secret"),
        "measurements": [vital("ttfb", 900.0, "needs-improvement", "v4-7")]
    });
    post_json(&app, &payload).await;
    let other = [
        ("app_name", "other"),
        ("page_route", "other"),
        ("rating", "needs-improvement"),
    ];
    assert_eq!(
        sample(&metrics, "browser_web_vital_ttfb_seconds_count", &other),
        Some(1.0)
    );
}

#[tokio::test]
async fn same_vital_id_is_counted_once() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    for value in [800.0, 1200.0, 1500.0] {
        let payload = json!({
            "meta": meta("todo-frontend", "/"),
            "measurements": [vital("cls", value / 10_000.0, "good", "v4-same")]
        });
        assert_eq!(post_json(&app, &payload).await, StatusCode::ACCEPTED);
    }
    let labels = [
        ("app_name", "todo-frontend"),
        ("page_route", "/"),
        ("rating", "good"),
    ];
    assert_eq!(
        sample(&metrics, "browser_web_vital_cls_count", &labels),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "duplicate")]
        ),
        Some(2.0)
    );
}

/// A lowercase word of 1 to 16 letters that is none of the names the receiver is configured
/// with or knows (ratings, events, page route segments).
fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(b'a'..=b'z', 1..=16)
        .prop_map(|letters| letters.into_iter().map(char::from).collect::<String>())
        .prop_filter("a configured name", |word| {
            !["good", "poor", "signup", "login", "todos"].contains(&word.as_str())
        })
}

#[test]
fn labels_stay_bounded_under_random_names() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let app = runtime.block_on(async { receiver(&metrics).rate_limit(0.0, 1).into_router() });
    let other = [
        ("app_name", "other"),
        ("page_route", "other"),
        ("rating", "other"),
    ];
    let batches = Cell::new(0u32);
    let names = (word(), word(), word(), word(), word(), word(), 0..10_000u32);
    common::check(
        common::proptest_config(1_000, file!()),
        names,
        |(app_name, first, second, rating, event, error_type, lcp)| {
            let id = batches.get();
            let payload = json!({
                "meta": meta(&app_name, &format!("https://todo.example/{first}/{second}")),
                "measurements": [vital("lcp", f64::from(lcp), &rating, &format!("id-{id}"))],
                "events": [{"name": event}],
                "exceptions": [{"type": error_type, "value": "boom"}]
            });
            prop_assert_eq!(
                runtime.block_on(post_json(&app, &payload)),
                StatusCode::ACCEPTED
            );
            batches.set(id + 1);
            // Every name lands on the one `other` series.
            for name in [
                "browser_web_vital_lcp_seconds_count",
                "browser_events_total",
                "browser_exceptions_total",
            ] {
                prop_assert_eq!(series_count(&metrics, name), 1, "{}", name);
            }
            Ok(())
        },
    );
    let batches = f64::from(batches.get());
    assert_eq!(
        sample(&metrics, "browser_web_vital_lcp_seconds_count", &other),
        Some(batches)
    );
    assert_eq!(
        sample(
            &metrics,
            "browser_events_total",
            &[("app_name", "other"), ("event_name", "other")]
        ),
        Some(batches)
    );
}

#[tokio::test]
async fn exceptions_are_counted_by_error_type_and_logged() {
    let logs = obs_testkit::LogCapture::default();
    let telemetry = Telemetry::builder("rum-svc")
        .log_format(obs_core::LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    let app = RumReceiver::new(&telemetry)
        .app_names(["todo-frontend"])
        .into_router();
    let payload = json!({
        "meta": meta("todo-frontend", "https://todo.example/"),
        "exceptions": [
            {
                "type": "TypeError",
                "value": "Cannot read properties of undefined (reading 'id')",
                "timestamp": "2026-11-27T10:15:55.917Z",
                "stacktrace": {"frames": [
                    {"filename": "https://todo.example/app.js", "function": "completeTodo", "lineno": 42, "colno": 13},
                    {"filename": "https://todo.example/app.js", "function": "onClick", "lineno": 7, "colno": 1}
                ]},
                "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}
            },
            {"type": "ReferenceError", "value": "x is not defined"},
            {"type": "MyAppError", "value": "custom"},
            {"value": "no type at all"}
        ]
    });
    let status = post_json(&app, &payload)
        .with_subscriber(telemetry.dispatch().clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let metrics = telemetry.metrics();
    for (error_type, count) in [("TypeError", 1.0), ("ReferenceError", 1.0), ("other", 2.0)] {
        assert_eq!(
            sample(
                metrics,
                "browser_exceptions_total",
                &[("app_name", "todo-frontend"), ("error_type", error_type)]
            ),
            Some(count),
            "{error_type}"
        );
    }
    let text = logs.lines().join("\n");
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["fields"]["exception_type"] == "TypeError")
        .unwrap_or_else(|| panic!("no exception line in {text}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["target"], "obs_axum::rum");
    let fields = &line["fields"];
    assert_eq!(
        fields["exception_message"],
        "Cannot read properties of undefined (reading 'id')"
    );
    assert_eq!(
        fields["stacktrace"],
        "  at completeTodo (https://todo.example/app.js:42:13)\n  at onClick (https://todo.example/app.js:7:1)\n"
    );
    assert_eq!(fields["page_url"], "https://todo.example/");
    assert_eq!(fields["session_id"], "sess-1");
    assert_eq!(
        fields["browser_trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}

/// Arbitrary JSON of at most `depth` levels, mixing Faro-shaped keys with noise.
fn arbitrary_json(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (0..1_000_000u32).prop_map(|n| json!(f64::from(n) / 7.0 - 1000.0)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 64, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(common::FARO_KEYS), inner), 0..5).prop_map(
                |entries| {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(key, value)| (key.to_owned(), value))
                            .collect(),
                    )
                }
            ),
        ]
    })
    .boxed()
}

/// A request body that may be anything: raw bytes, arbitrary JSON, or a Faro-shaped payload
/// with arbitrary values in its slots.
fn arbitrary_body() -> impl Strategy<Value = Vec<u8>> {
    let faro_shaped = (
        (arbitrary_json(3), arbitrary_json(2), arbitrary_json(2)),
        (arbitrary_json(1), arbitrary_json(3)),
        (arbitrary_json(2), arbitrary_json(2), arbitrary_json(4)),
        proptest::option::of((word(), word())),
    )
        .prop_map(
            |((meta_slot, values, context), (error_type, stack), (log, event, traces), app)| {
                let meta_slot = match app {
                    Some((app, url)) => meta(&app, &url),
                    None => meta_slot,
                };
                json!({
                    "meta": meta_slot,
                    "measurements": [{"type": "web-vitals", "values": values, "context": context}],
                    "exceptions": [{"type": error_type, "stacktrace": stack}],
                    "logs": [log],
                    "events": [event],
                    "traces": traces
                })
                .to_string()
                .into_bytes()
            },
        );
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        arbitrary_json(6).prop_map(|value| value.to_string().into_bytes()),
        faro_shaped,
    ]
}

#[test]
fn arbitrary_input_never_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let app = runtime.block_on(async {
        receiver(&metrics)
            .rate_limit(0.0, 1)
            .max_body_bytes(64 * 1024)
            .into_router()
    });
    let allowed = [
        StatusCode::ACCEPTED,
        StatusCode::BAD_REQUEST,
        StatusCode::PAYLOAD_TOO_LARGE,
    ];
    // Gzipped one time in four, and then half the time with one bit of the stream flipped.
    let gzip_damage = proptest::option::weighted(
        0.25,
        proptest::option::of((any::<prop::sample::Index>(), 0..8u32)),
    );
    common::check(
        common::proptest_config(1_000, file!()),
        (arbitrary_body(), gzip_damage),
        |(body, gzip_damage)| {
            let (headers, body): (&[(&str, &str)], Vec<u8>) = match gzip_damage {
                None => (&[], body),
                Some(flip) => {
                    let mut compressed = gzip(&body);
                    if let Some((at, bit)) = flip {
                        let at = at.index(compressed.len());
                        compressed[at] ^= 1 << bit;
                    }
                    (&[("content-encoding", "gzip")], compressed)
                }
            };
            let (status, _, _) = runtime.block_on(post(&app, headers, body));
            prop_assert!(allowed.contains(&status), "answered {}", status);
            Ok(())
        },
    );
    // The exposition is still valid text with bounded series.
    assert!(series_count(&metrics, "browser_exceptions_total") <= 12);
}

fn traces_payload() -> Value {
    json!({
        "meta": meta("todo-frontend", "/"),
        "traces": {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "todo-frontend"}}]},
            "scopeSpans": [{
                "scope": {"name": "@opentelemetry/instrumentation-fetch"},
                "spans": [{
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanId": "00f067aa0ba902b7",
                    "name": "HTTP POST",
                    "kind": 3,
                    "startTimeUnixNano": "1795774555917000000",
                    "endTimeUnixNano": "1795774555990000000",
                    "attributes": [
                        {"key": "http.url", "value": {"stringValue": "https://todo.example/api?token=abc123"}},
                        {"key": "http.status_code", "value": {"intValue": 200}},
                        {"key": "user.emails", "value": {"arrayValue": {"values": [{"stringValue": "bob@example.com"}]}}}
                    ]
                }]
            }]
        }]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_spans_are_forwarded_as_otlp_json() {
    let received: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let sink = Arc::clone(&received);
    let collector = Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let content_type = headers["content-type"].to_str().unwrap().to_owned();
                let body = serde_json::from_slice(&body).unwrap();
                sink.lock().unwrap().push((content_type, body));
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let metrics = Metrics::new();
    let app = receiver(&metrics)
        .otlp_forwarding(format!("http://{addr}"))
        .into_router();
    let payload = traces_payload();
    assert_eq!(post_json(&app, &payload).await, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while received.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "application/json");
    // The browser's resource is replaced by the receiver's; the span goes on scrubbed, with
    // its scalar attributes only.
    assert_eq!(
        received[0].1,
        json!({"resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "todo-frontend"}},
                {"key": "obs.rum.source", "value": {"stringValue": "browser"}},
                {"key": "telemetry.sdk.language", "value": {"stringValue": "webjs"}}
            ]},
            "scopeSpans": [{
                "scope": {"name": "@opentelemetry/instrumentation-fetch", "version": ""},
                "spans": [{
                    "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanId": "00f067aa0ba902b7",
                    "name": "HTTP POST",
                    "kind": 3,
                    "startTimeUnixNano": "1795774555917000000",
                    "endTimeUnixNano": "1795774555990000000",
                    "attributes": [
                        {"key": "http.url", "value": {"stringValue": "https://todo.example/api?token=[redacted]"}},
                        {"key": "http.status_code", "value": {"intValue": "200"}}
                    ],
                    "events": []
                }]
            }]
        }]})
    );
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_items_received_total",
            &[("kind", "span")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unforwarded_and_failed_spans_are_counted() {
    let metrics = Metrics::new();
    let app = receiver(&metrics).into_router();
    post_json(&app, &traces_payload()).await;
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "traces_not_forwarded")]
        ),
        Some(1.0)
    );

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = Metrics::new();
    let app = receiver(&metrics)
        .otlp_forwarding(format!("http://127.0.0.1:{port}"))
        .into_router();
    assert_eq!(
        post_json(&app, &traces_payload()).await,
        StatusCode::ACCEPTED
    );
    let failed = || {
        sample(
            &metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "export_failed")],
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while failed().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(failed(), Some(1.0));
}

#[tokio::test]
async fn exception_stacks_resolve_through_source_maps() {
    let dir = std::env::temp_dir().join(format!("obs-rum-it-maps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app.min.js.map"),
        r#"{"version":3,"file":"app.min.js","sources":["src/todo.ts"],"names":["completeTodo"],"mappings":"AAAAA;AAEAA"}"#,
    )
    .unwrap();
    let logs = obs_testkit::LogCapture::default();
    let telemetry = Telemetry::builder("rum-maps-svc")
        .log_format(obs_core::LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    let app = RumReceiver::new(&telemetry)
        .source_maps_dir(&dir)
        .into_router();
    std::fs::remove_dir_all(&dir).unwrap();
    let payload = json!({
        "meta": meta("todo-frontend", "/"),
        "exceptions": [{"type": "Error", "value": "deliberate", "stacktrace": {"frames": [
            {"filename": "https://todo.example/static/app.min.js?v=2", "function": "a", "lineno": 2, "colno": 5},
            {"filename": "https://todo.example/static/vendor.js", "function": "b", "lineno": 1, "colno": 9}
        ]}}]
    });
    let status = post_json(&app, &payload)
        .with_subscriber(telemetry.dispatch().clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let text = logs.lines().join("\n");
    let line: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["fields"]["exception_type"] == "Error")
        .unwrap_or_else(|| panic!("no exception line in {text}"));
    assert_eq!(
        line["fields"]["stacktrace"],
        "  at completeTodo (src/todo.ts:3:1)\n  at b (https://todo.example/static/vendor.js:1:9)\n"
    );
}
