//! The RUM receiver: the cost of an accepted item, of a typical Faro batch, and of a hostile
//! batch (5 MiB of empty items inflated from a few KiB of gzip), each through the router with
//! JSON logs written to a sink.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{Request, StatusCode};
use obs_axum::rum::{DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_LOGS, RumReceiver};
use obs_core::Telemetry;
use serde_json::json;
use tokio::runtime::Runtime;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A batch as the Faro Web SDK sends it from a busy page: 10 items.
fn typical() -> Vec<u8> {
    let frame = |f: &str, l: u32| json!({"filename": "https://todo.example/app.js", "function": f, "lineno": l, "colno": 7});
    json!({
        "meta": {
            "sdk": {"name": "@grafana/faro-web-sdk", "version": "2.12.1"},
            "app": {"name": "todo-frontend", "version": "1.0.0"},
            "session": {"id": "Xk9fQ2bLpW", "attributes": {"isSampled": "true"}},
            "page": {"url": "https://todo.example/todos/42?tab=open"},
            "browser": {"name": "Chrome", "version": "131"}
        },
        "measurements": [{"type": "web-vitals", "values": {"lcp": 1830.5},
                          "context": {"rating": "good", "id": "v4-1"}}],
        "exceptions": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'id')",
                        "stacktrace": {"frames": (0..10).map(|i| frame("completeTodo", 40 + i)).collect::<Vec<_>>()}}],
        "logs": (0..6).map(|i| json!({"message": format!("todo {i} saved for bob@example.com"), "level": "info"})).collect::<Vec<_>>(),
        "events": [{"name": "todo_created", "attributes": {"list": "inbox"}},
                   {"name": "todo_completed", "attributes": {"list": "inbox"}}]
    })
    .to_string()
    .into_bytes()
}

/// `n` log items with a short message.
fn logs(n: usize) -> Vec<u8> {
    let items: Vec<_> = (0..n)
        .map(|i| json!({"message": format!("line {i}"), "level": "info"}))
        .collect();
    json!({"meta": {"app": {"name": "todo-frontend"}}, "logs": items})
        .to_string()
        .into_bytes()
}

/// The attack the receiver once fell to: a gzip body inflating to the limit, all empty logs.
fn hostile() -> (Vec<u8>, usize) {
    let head = r#"{"meta":{"app":{"name":"todo-frontend"}},"logs":["#;
    let n = (DEFAULT_MAX_BODY_BYTES - head.len() - 2) / 3;
    let mut body = String::with_capacity(DEFAULT_MAX_BODY_BYTES);
    body.push_str(head);
    body.push_str(&"{},".repeat(n - 1));
    body.push_str("{}]}");
    (gzip(body.as_bytes()), n)
}

fn setup() -> (Router, Telemetry) {
    let telemetry = Telemetry::builder("rum-bench")
        .log_format(obs_core::LogFormat::Json)
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = RumReceiver::new(&telemetry)
        .app_names(["todo-frontend"])
        .page_routes(["/", "/todos/{id}"])
        .event_names(["todo_created", "todo_completed"])
        .rate_limit(0.0, 1)
        .into_router();
    (app, telemetry)
}

async fn post(app: &Router, telemetry: &Telemetry, body: Vec<u8>, gzip: bool) {
    let mut request = Request::post("/faro/collect").header("content-type", "application/json");
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .with_subscriber(telemetry.dispatch().clone())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

fn rum(c: &mut Criterion) {
    let rt = runtime();
    let (app, telemetry) = setup();

    let mut group = c.benchmark_group("rum_batch");
    let body = typical();
    group.throughput(Throughput::Elements(10));
    group.bench_function("typical_10_items", |b| {
        b.to_async(&rt)
            .iter(|| post(&app, &telemetry, body.clone(), false))
    });
    let body = logs(DEFAULT_MAX_LOGS);
    group.throughput(Throughput::Elements(DEFAULT_MAX_LOGS as u64));
    group.bench_function("logs_at_the_cap", |b| {
        b.to_async(&rt)
            .iter(|| post(&app, &telemetry, body.clone(), false))
    });
    group.finish();

    let mut group = c.benchmark_group("rum_hostile");
    group.sample_size(10);
    let (body, n) = hostile();
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("gzip_5mib_of_empty_logs", |b| {
        b.to_async(&rt)
            .iter(|| post(&app, &telemetry, body.clone(), true))
    });
    group.finish();
}

criterion_group!(benches, rum);
criterion_main!(benches);
