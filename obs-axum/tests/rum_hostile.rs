//! The RUM receiver against hostile batches: whatever a client sends, what one request costs
//! (items recorded, log lines and their length, memory) stays within the documented caps, the
//! drop counters say why, and the server keeps answering other routes meanwhile.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{Request, StatusCode};
use obs_axum::TrustedProxies;
use obs_axum::rum::{
    BatchLimits, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EXCEPTIONS, DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_LOGS, DEFAULT_MAX_MAP_KEYS, MAX_LOG_LINE_BYTES, MAX_STACK_BYTES, RumReceiver,
};
use obs_core::{Metrics, Telemetry};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

use obs_testkit::LogCapture;

const PATH: &str = "/faro/collect";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// `meta` with 2 KiB of everything, as the original attack sent.
fn long_meta() -> String {
    let long = "A".repeat(2048);
    json!({
        "app": {"name": long, "version": long},
        "page": {"url": format!("https://todo.example/{long}?token=s3cr3t")},
        "session": {"id": long},
        "browser": {"name": long},
        "user": {"id": long, "email": "victim@example.com"}
    })
    .to_string()
}

/// A batch whose `kind` array repeats `item` as often as fits in the body limit; returns the
/// gzip body and the number of repeats.
fn flood(kind: &str, item: &str) -> (Vec<u8>, usize) {
    flood_after(kind, "", item)
}

/// Like [`flood`], with `first` (items, comma-separated) at the head of the array.
fn flood_after(kind: &str, first: &str, item: &str) -> (Vec<u8>, usize) {
    let mut body = String::with_capacity(DEFAULT_MAX_BODY_BYTES);
    body.push_str(&format!(r#"{{"meta":{},"{kind}":["#, long_meta()));
    body.push_str(first);
    let room = DEFAULT_MAX_BODY_BYTES - body.len() - 16;
    let n = room / (item.len() + 1);
    for i in 0..n {
        if i > 0 || !first.is_empty() {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    assert!(body.len() <= DEFAULT_MAX_BODY_BYTES);
    (gzip(body.as_bytes()), n)
}

struct Setup {
    app: Router,
    telemetry: Telemetry,
    logs: LogCapture,
}

fn setup(configure: impl FnOnce(RumReceiver) -> RumReceiver) -> Setup {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("rum-hostile")
        .log_format(obs_core::LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    let app = configure(
        RumReceiver::new(&telemetry)
            .app_names(["todo-frontend"])
            .rate_limit(0.0, 1),
    )
    .into_router();
    Setup {
        app,
        telemetry,
        logs,
    }
}

async fn post_gzip(setup: &Setup, body: Vec<u8>) -> StatusCode {
    let request = Request::post(PATH)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Body::from(body))
        .unwrap();
    let response = setup
        .app
        .clone()
        .oneshot(request)
        .with_subscriber(setup.telemetry.dispatch().clone())
        .await
        .unwrap();
    response.status()
}

fn sample(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::sample(&metrics.encode().unwrap(), name, labels)
}

/// Every line the receiver wrote is within the documented bound; returns them parsed.
fn bounded_lines(logs: &LogCapture) -> Vec<Value> {
    let lines = logs.lines();
    for line in &lines {
        assert!(
            line.len() <= MAX_LOG_LINE_BYTES,
            "a {}-byte line: {}…",
            line.len(),
            &line[..200]
        );
    }
    logs.json_lines()
}

fn lines_of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_empty_logs_cost_the_cap() {
    let s = setup(|r| r);
    let (body, n) = flood("logs", "{}");
    assert!(n > 1_700_000, "{n}");
    assert!(body.len() < 16 * 1024, "{}", body.len());
    assert_eq!(post_gzip(&s, body).await, StatusCode::ACCEPTED);

    let metrics = s.telemetry.metrics();
    assert_eq!(
        sample(metrics, "obs_rum_items_received_total", &[("kind", "log")]),
        Some(DEFAULT_MAX_LOGS as f64)
    );
    assert_eq!(
        sample(
            metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "item_limit")]
        ),
        Some((n - DEFAULT_MAX_LOGS) as f64)
    );
    let lines = bounded_lines(&s.logs);
    assert_eq!(lines_of_kind(&lines, "log").len(), DEFAULT_MAX_LOGS);
    let batch = lines_of_kind(&lines, "batch");
    assert_eq!(batch.len(), 1);
    let fields = &batch[0]["fields"];
    assert_eq!(fields["logs"], DEFAULT_MAX_LOGS);
    assert_eq!(fields["items_dropped"], n - DEFAULT_MAX_LOGS);
    // Batch-wide fields in full once (cut to the string limit), short on every item.
    assert_eq!(fields["app_name"].as_str().unwrap().len(), 2048);
    let page = fields["page_url"].as_str().unwrap();
    assert!(!page.contains("s3cr3t"), "{page}");
    assert!(
        !lines
            .iter()
            .any(|l| l.to_string().contains("victim@example.com"))
    );
    let item = lines_of_kind(&lines, "log")[0];
    assert_eq!(item["fields"]["app_name"].as_str().unwrap().len(), 128);
    assert_eq!(item["fields"]["session_id"].as_str().unwrap().len(), 128);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_exceptions_with_maximal_stacks_stay_bounded() {
    let s = setup(|r| r);
    // Strings longer than the limit, made of the characters JSON escapes.
    let nasty = "\"\\".repeat(1500);
    let frame = json!({"filename": nasty, "function": nasty, "lineno": 1, "colno": 2});
    let first = json!({
        "type": nasty, "value": nasty,
        "stacktrace": {"frames": vec![frame; 2 * DEFAULT_MAX_FRAMES]},
        "trace": {"trace_id": nasty}
    });
    let rest = json!({"type": nasty, "value": nasty}).to_string();
    let mut heavy = vec![first.to_string()];
    heavy.extend(std::iter::repeat_n(rest, DEFAULT_MAX_EXCEPTIONS - 1));
    let (body, n) = flood_after("exceptions", &heavy.join(","), "{}");
    assert_eq!(post_gzip(&s, body).await, StatusCode::ACCEPTED);

    let metrics = s.telemetry.metrics();
    assert_eq!(
        sample(
            metrics,
            "browser_exceptions_total",
            &[("app_name", "other"), ("error_type", "other")]
        ),
        Some(DEFAULT_MAX_EXCEPTIONS as f64)
    );
    assert_eq!(
        sample(
            metrics,
            "obs_rum_items_dropped_total",
            &[("reason", "item_limit")]
        ),
        Some(n as f64)
    );
    let lines = bounded_lines(&s.logs);
    let exceptions = lines_of_kind(&lines, "exception");
    assert_eq!(exceptions.len(), DEFAULT_MAX_EXCEPTIONS);
    for line in &exceptions {
        let stack = line["fields"]["stacktrace"].as_str().unwrap();
        assert!(stack.len() <= MAX_STACK_BYTES, "{}", stack.len());
        assert_eq!(line["fields"]["browser_trace_id"], "");
    }
    let first_stack = exceptions[0]["fields"]["stacktrace"].as_str().unwrap();
    assert!(first_stack.ends_with(" more\n"), "{first_stack}");
    let batch = lines_of_kind(&lines, "batch");
    assert_eq!(batch[0]["fields"]["frames_dropped"], DEFAULT_MAX_FRAMES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_and_wide_contexts_keep_the_key_cap() {
    let s = setup(|r| r);
    let wide: serde_json::Map<String, Value> = (0..100_000)
        .map(|i| (format!("k{i}"), json!("v")))
        .collect();
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!({ "d": [deep] });
    }
    let payload = json!({
        "meta": {"app": {"name": "todo-frontend"}},
        "events": [
            {"name": "wide", "attributes": wide},
            {"name": "deep", "attributes": {"nested": deep, "flat": "kept"}}
        ],
        "measurements": [
            {"type": "custom", "values": wide, "context": wide}
        ]
    });
    let body = gzip(payload.to_string().as_bytes());
    assert_eq!(post_gzip(&s, body).await, StatusCode::ACCEPTED);
    let lines = bounded_lines(&s.logs);
    let events = lines_of_kind(&lines, "event");
    assert_eq!(events.len(), 2);
    let attributes: Value = serde_json::from_str(
        events[0]["fields"]["event_attributes"]
            .as_str()
            .unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    // Cut at the key cap, or at the string limit (then not valid JSON, and shorter still).
    let kept = events[0]["fields"]["event_attributes"].as_str().unwrap();
    assert!(kept.len() <= 2048, "{}", kept.len());
    if let Some(map) = attributes.as_object() {
        assert!(map.len() <= DEFAULT_MAX_MAP_KEYS);
    }
    assert_eq!(
        events[1]["fields"]["event_attributes"],
        r#"{"flat":"kept","nested":null}"#
    );
    let batch = lines_of_kind(&lines, "batch");
    // 3 wide maps lose all but 32 keys each; the deep value is skipped as one.
    assert_eq!(
        batch[0]["fields"]["keys_dropped"],
        3 * (100_000 - DEFAULT_MAX_MAP_KEYS) + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_at_the_size_limit_is_accepted() {
    let s = setup(|r| r);
    let mut text = String::from(
        r#"{"meta":{"app":{"name":"todo-frontend"}},"logs":[{"message":"hello"}],"pad":""#,
    );
    let room = DEFAULT_MAX_BODY_BYTES - text.len() - 2;
    text.push_str(&"x".repeat(room));
    text.push_str("\"}");
    assert_eq!(text.len(), DEFAULT_MAX_BODY_BYTES);
    assert_eq!(
        post_gzip(&s, gzip(text.as_bytes())).await,
        StatusCode::ACCEPTED
    );
    let mut over = text.clone();
    over.insert(over.len() - 2, 'x');
    assert_eq!(
        post_gzip(&s, gzip(over.as_bytes())).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let lines = bounded_lines(&s.logs);
    assert_eq!(lines_of_kind(&lines, "log").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_text_is_scrubbed_before_it_is_logged() {
    let s = setup(|r| r);
    let payload = json!({
        "meta": {"app": {"name": "todo-frontend"}, "page": {"url": "https://todo.example/reset?token=abc123"}},
        "logs": [{"message": "login failed for bob@example.com with password=hunter2"}],
        "exceptions": [{"type": "Error", "value": "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln card 4111111111111111"}],
        "events": [{"name": "signup", "attributes": {"email": "carol@example.com"}}]
    });
    assert_eq!(
        post_gzip(&s, gzip(payload.to_string().as_bytes())).await,
        StatusCode::ACCEPTED
    );
    let all = s.logs.lines().join("\n");
    for secret in [
        "bob@example.com",
        "hunter2",
        "abc123",
        "eyJhbGciOiJIUzI1NiJ9",
        "4111111111111111",
        "carol@example.com",
    ] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    let lines = s.logs.json_lines();
    assert_eq!(
        lines_of_kind(&lines, "log")[0]["message"],
        "login failed for [email] with password=[redacted]"
    );
    assert_eq!(
        lines_of_kind(&lines, "exception")[0]["fields"]["exception_message"],
        "Authorization: Bearer [jwt] card [card]"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_that_are_not_spans_are_400() {
    let s = setup(|r| r);
    for traces in [
        json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "no ids"}]}]}]}),
        json!({"resourceSpans": "nope"}),
        json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00f067aa0ba902b7"}]}]}]}),
    ] {
        let payload = json!({"meta": {}, "traces": traces});
        assert_eq!(
            post_gzip(&s, gzip(payload.to_string().as_bytes())).await,
            StatusCode::BAD_REQUEST,
            "{traces}"
        );
    }
    assert_eq!(
        sample(
            s.telemetry.metrics(),
            "obs_rum_requests_rejected_total",
            &[("reason", "bad_json")]
        ),
        Some(3.0)
    );
}

fn from(addr: &str, body: &'static str) -> Request<Body> {
    let mut request = Request::post(PATH)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let peer: SocketAddr = addr.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

#[tokio::test]
async fn a_flooding_client_does_not_push_others_into_429() {
    let metrics = Metrics::new();
    let app = RumReceiver::from_metrics(&metrics)
        .unwrap()
        .rate_limit(1000.0, 60)
        .client_rate_limit(1.0, 5)
        .into_router();
    let mut flood_statuses = Vec::new();
    for _ in 0..50 {
        let response = app
            .clone()
            .oneshot(from("203.0.113.66:4000", "{}"))
            .await
            .unwrap();
        flood_statuses.push(response.status());
    }
    assert_eq!(
        flood_statuses
            .iter()
            .filter(|s| **s == StatusCode::ACCEPTED)
            .count(),
        5
    );
    assert_eq!(
        flood_statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        45
    );
    for i in 0..10 {
        let response = app
            .clone()
            .oneshot(from(&format!("198.51.100.{i}:5000"), "{}"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "client {i}");
    }
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let metrics = Metrics::new();
    let app = RumReceiver::from_metrics(&metrics)
        .unwrap()
        .rate_limit(0.0, 1)
        .client_rate_limit(1.0, 1)
        .trusted_proxies("10.0.0.0/8".parse::<TrustedProxies>().unwrap())
        .into_router();
    let via_proxy = |client: &str| {
        let mut r = from("10.0.0.2:443", "{}");
        r.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        r
    };
    // Behind the proxy, each client has its own bucket.
    for client in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        let status = app
            .clone()
            .oneshot(via_proxy(client))
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::ACCEPTED, "{client}");
    }
    let again = app.clone().oneshot(via_proxy("192.0.2.1")).await.unwrap();
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // Straight from the internet, a spoofed header changes nothing: the peer is the client.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let mut r = from("203.0.113.7:1000", "{}");
        r.headers_mut().insert(
            "x-forwarded-for",
            format!("192.0.2.{}", 100 + i).parse().unwrap(),
        );
        statuses.push(app.clone().oneshot(r).await.unwrap().status());
    }
    assert_eq!(statuses[0], StatusCode::ACCEPTED);
    assert!(
        statuses[1..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_api_key_is_checked_before_the_body_and_the_rate_limit() {
    let metrics = Metrics::new();
    let app = RumReceiver::from_metrics(&metrics)
        .unwrap()
        .api_key("k3y")
        .rate_limit(0.001, 1)
        .into_router();
    // A body that never arrives: a key check after reading it would hang here.
    let (_tx, never) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>(1);
    let body = Body::new(http_body_util::StreamBody::new(tokio_stream_from(never)));
    let request = Request::post(PATH).body(body).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for _ in 0..20 {
        let request = Request::post(PATH).body(Body::from("{}")).unwrap();
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // None of those took the one token.
    let request = Request::post(PATH)
        .header("x-api-key", "k3y")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
}

/// A receiver as a stream of body frames.
fn tokio_stream_from<T>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_house_is_503_with_retry_after() {
    let metrics = Metrics::new();
    let app = RumReceiver::from_metrics(&metrics)
        .unwrap()
        .rate_limit(0.0, 1)
        .max_concurrent_batches(1)
        .into_router();
    // The first request holds the only permit while its body trickles.
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<bytes::Bytes>, std::io::Error>>(1);
    let slow = Request::post(PATH)
        .body(Body::new(http_body_util::StreamBody::new(
            tokio_stream_from(rx),
        )))
        .unwrap();
    let first = tokio::spawn(app.clone().oneshot(slow));
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let second = app
        .clone()
        .oneshot(Request::post(PATH).body(Body::from("{}")).unwrap())
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.headers()["retry-after"], "1");
    tx.send(Ok(http_body::Frame::data(bytes::Bytes::from_static(b"{}"))))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(
        sample(
            &metrics,
            "obs_rum_requests_rejected_total",
            &[("reason", "overloaded")]
        ),
        Some(1.0)
    );
}

/// `/health` on the same server is answered while four hostile batches are being processed:
/// the server runs one async worker, so if batch processing ran on it, `/health` would wait
/// for all four.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn health_answers_while_hostile_batches_are_in_flight() {
    let metrics = Metrics::new();
    let arrived = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&arrived);
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(
            RumReceiver::from_metrics(&metrics)
                .unwrap()
                .rate_limit(0.0, 1)
                .limits(BatchLimits::default())
                .into_router(),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let counter = Arc::clone(&counter);
                async move {
                    if req.uri().path() == PATH {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(req).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let (body, _) = flood("logs", r#"{"message":"x"}"#);
    let client = reqwest_like::Client::new();
    let mut batches = Vec::new();
    for _ in 0..4 {
        let body = body.clone();
        let done = Arc::clone(&done);
        let client = client.clone();
        batches.push(tokio::spawn(async move {
            let status = client.post_gzip(addr, PATH, body).await;
            done.fetch_add(1, Ordering::SeqCst);
            status
        }));
    }
    while arrived.load(Ordering::SeqCst) < 4 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let health = client.get(addr, "/health").await;
    let finished_when_health_answered = done.load(Ordering::SeqCst);
    assert_eq!(health, StatusCode::OK);
    for batch in batches {
        assert_eq!(batch.await.unwrap(), StatusCode::ACCEPTED);
    }
    assert!(
        finished_when_health_answered < 4,
        "/health waited for every batch"
    );
}

/// A minimal HTTP/1 client over hyper, so the test needs no TLS stack.
#[allow(unreachable_pub)]
mod reqwest_like {
    use std::net::SocketAddr;

    use axum::body::Body;
    use http::{Request, StatusCode};
    use hyper_util::client::legacy::Client as Hyper;
    use hyper_util::rt::TokioExecutor;

    #[derive(Clone)]
    pub struct Client(Hyper<hyper_util::client::legacy::connect::HttpConnector, Body>);

    impl Client {
        pub fn new() -> Self {
            Client(Hyper::builder(TokioExecutor::new()).build_http())
        }

        pub async fn post_gzip(&self, addr: SocketAddr, path: &str, body: Vec<u8>) -> StatusCode {
            let request = Request::post(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .header("content-encoding", "gzip")
                .body(Body::from(body))
                .unwrap();
            self.0.request(request).await.unwrap().status()
        }

        pub async fn get(&self, addr: SocketAddr, path: &str) -> StatusCode {
            let request = Request::get(format!("http://{addr}{path}"))
                .body(Body::empty())
                .unwrap();
            self.0.request(request).await.unwrap().status()
        }
    }
}
