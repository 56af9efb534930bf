//! Head sampling: a request the sampler drops is served without a `tracing` span, and nothing
//! that can be observed from outside tells it apart from one served with an unsampled span:
//! `traceresponse`, the log lines written inside it (trace ids and the `span` object), and the
//! trace context its outgoing requests carry.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use obs_axum::{ClientLayer, ObsLayer};
use obs_core::{LogFormat, Telemetry, TraceSampler};
use obs_testkit::LogCapture;
use serde_json::Value;
use tower::{Layer, ServiceExt};

/// Telemetry whose root spans are sampled with `ratio`, JSON log lines into `logs`.
fn telemetry(logs: &LogCapture, ratio: f64) -> Telemetry {
    Telemetry::builder("head-sampling")
        .instance_id("head-1")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .sampler(TraceSampler::ParentBasedTraceIdRatio(ratio))
        .build()
        .unwrap()
}

/// A route whose handler logs one line, reports whether a `tracing` span was current, and
/// calls a downstream service through the client layer; returns the app and the
/// `traceparent` the downstream service was sent. The client layer opens spans when
/// `client_spans`.
fn app(telemetry: &Telemetry, client_spans: bool) -> (Router, Arc<Mutex<Option<String>>>) {
    let sent = Arc::new(Mutex::new(None::<String>));
    let client = ClientLayer::new(telemetry)
        .spans(client_spans)
        .layer(tower::service_fn({
            let sent = Arc::clone(&sent);
            move |req: Request<Body>| {
                *sent.lock().unwrap() = req
                    .headers()
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned());
                async { Ok::<_, std::io::Error>(http::Response::new(Body::empty())) }
            }
        }));
    let app = Router::new()
        .route(
            "/todos/{id}",
            get(move || async move {
                tracing::info!(in_span = !tracing::Span::current().is_none(), "handled");
                let request = Request::get("http://payments.internal/charges/1")
                    .body(Body::empty())
                    .unwrap();
                client.oneshot(request).await.unwrap();
                "todo"
            }),
        )
        .layer(ObsLayer::new(telemetry));
    (app, sent)
}

struct Served {
    trace_response: String,
    request_id: String,
    line: Value,
    sent: String,
}

async fn serve(ratio: f64, headers: &[(&str, &str)], client_spans: bool) -> Served {
    let logs = LogCapture::default();
    let telemetry = telemetry(&logs, ratio);
    let (app, sent) = app(&telemetry, client_spans);
    let mut request = Request::get("/todos/7?x=1")
        .header("user-agent", "curl/8.0")
        .header("x-request-id", "req-42");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = common::send_traced(
        &app,
        telemetry.dispatch(),
        request.body(Body::empty()).unwrap(),
    )
    .await;
    let lines: Vec<Value> = logs
        .json_lines()
        .into_iter()
        .filter(|l| l["message"] == "handled")
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let sent = sent
        .lock()
        .unwrap()
        .clone()
        .expect("no traceparent went out");
    Served {
        trace_response: response["traceresponse"].to_str().unwrap().to_owned(),
        request_id: response["x-request-id"].to_str().unwrap().to_owned(),
        line: lines[0].clone(),
        sent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_runs_without_a_span_and_looks_unsampled() {
    let dropped = serve(0.0, &[], true).await;
    let sampled = serve(1.0, &[], true).await;

    // No `tracing` span is opened for the dropped request; the sampled one has its span.
    assert_eq!(dropped.line["fields"]["in_span"], false, "{}", dropped.line);
    assert_eq!(sampled.line["fields"]["in_span"], true, "{}", sampled.line);

    // `traceresponse`: a trace of its own, not sampled.
    let parts: Vec<&str> = dropped.trace_response.split('-').collect();
    assert_eq!(parts.len(), 4, "{}", dropped.trace_response);
    let (trace_id, span_id) = (parts[1], parts[2]);
    assert_eq!(parts[3], "00");
    assert!(trace_id.bytes().any(|b| b != b'0') && span_id.bytes().any(|b| b != b'0'));
    assert!(sampled.trace_response.ends_with("-01"));

    // The log line carries the ids of the response, and the span object the span would have
    // had: the same as the sampled request's, field for field.
    assert_eq!(dropped.line["trace_id"], trace_id, "{}", dropped.line);
    assert_eq!(dropped.line["span_id"], span_id, "{}", dropped.line);
    assert_eq!(
        dropped.line["span"], sampled.line["span"],
        "{}",
        dropped.line
    );
    assert_eq!(dropped.line["span"]["name"], "HTTP request");
    assert_eq!(dropped.line["span"]["http.request_id"], "req-42");
    assert_eq!(dropped.request_id, "req-42");
    assert_eq!(dropped.line["span"]["url.path"], "/todos/7");
    assert_eq!(dropped.line["span"]["user_agent.original"], "curl/8.0");
    let keys = |line: &Value| -> Vec<String> {
        let mut keys: Vec<String> = line.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&dropped.line), keys(&sampled.line));

    // Downstream: the same trace, from a child of the server span, not sampled.
    let next: Vec<&str> = dropped.sent.split('-').collect();
    assert_eq!(next.len(), 4, "{}", dropped.sent);
    assert_eq!(next[1], trace_id, "{}", dropped.sent);
    assert_ne!(next[2], span_id, "{}", dropped.sent);
    assert_eq!(next[3], "00", "{}", dropped.sent);

    // Without a client span, the server's own unsampled context goes downstream.
    let spanless = serve(0.0, &[], false).await;
    assert_eq!(spanless.sent, spanless.trace_response);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_decision_is_followed_without_a_span() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";
    // Unsampled caller, sampler that would take every root: the caller decides.
    let unsampled = format!("00-{TRACE}-{PARENT}-00");
    let dropped = serve(1.0, &[("traceparent", &unsampled)], true).await;
    assert_eq!(dropped.line["fields"]["in_span"], false, "{}", dropped.line);
    assert!(
        dropped.trace_response.starts_with(&format!("00-{TRACE}-"))
            && dropped.trace_response.ends_with("-00"),
        "{}",
        dropped.trace_response
    );
    assert!(!dropped.trace_response.contains(PARENT));
    assert_eq!(dropped.line["trace_id"], TRACE);
    assert!(dropped.sent.starts_with(&format!("00-{TRACE}-")) && dropped.sent.ends_with("-00"));

    // Sampled caller, sampler that takes no root: the caller decides, with a span.
    let sampled = format!("00-{TRACE}-{PARENT}-01");
    let kept = serve(0.0, &[("traceparent", &sampled)], true).await;
    assert_eq!(kept.line["fields"]["in_span"], true, "{}", kept.line);
    assert!(kept.trace_response.starts_with(&format!("00-{TRACE}-")));
    assert!(kept.trace_response.ends_with("-01"));
    assert!(kept.sent.ends_with("-01"), "{}", kept.sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_root_keeps_the_trace_id_it_was_decided_on() {
    // A tenth of the roots: a span opened after the decision would be decided again on a
    // trace id of its own, and only a hundredth would come out sampled.
    let logs = LogCapture::default();
    let telemetry = telemetry(&logs, 0.1);
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(ObsLayer::new(&telemetry));
    let mut sampled = 0;
    for _ in 0..2_000 {
        let request = Request::get("/").body(Body::empty()).unwrap();
        let headers = common::send_traced(&app, telemetry.dispatch(), request).await;
        sampled += usize::from(headers["traceresponse"].as_bytes().ends_with(b"-01"));
    }
    assert!((120..300).contains(&sampled), "{sampled} of 2000 sampled");
}

/// The RUM receiver decodes a batch on the blocking pool: the log lines of a batch posted in a
/// dropped request still carry that request's trace id, as they would inside its span.
#[cfg(feature = "rum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rum_lines_of_a_dropped_request_keep_its_trace_id() {
    use obs_axum::rum::RumReceiver;

    let logs = LogCapture::default();
    let telemetry = telemetry(&logs, 0.0);
    let app: Router = RumReceiver::new(&telemetry)
        .app_names(["todo-frontend"])
        .into_router()
        .layer(ObsLayer::new(&telemetry));
    let payload = serde_json::json!({
        "meta": {
            "app": {"name": "todo-frontend", "version": "1.0.0"},
            "page": {"url": "https://todo.example/"},
            "session": {"id": "sess-1"}
        },
        "exceptions": [{"type": "TypeError", "value": "boom"}]
    });
    let request = Request::post("/faro/collect")
        .header("content-type", "application/json")
        .body(Body::from(payload.to_string()))
        .unwrap();
    let response = common::send_traced(&app, telemetry.dispatch(), request).await;
    let trace_response = response["traceresponse"].to_str().unwrap().to_owned();
    assert!(trace_response.ends_with("-00"), "{trace_response}");
    let trace_id = trace_response.split('-').nth(1).unwrap().to_owned();
    let line = logs
        .json_lines()
        .into_iter()
        .find(|l| l["fields"]["exception_type"] == "TypeError")
        .unwrap_or_else(|| panic!("no exception line in {:?}", logs.lines()));
    assert_eq!(line["trace_id"], trace_id.as_str(), "{line}");
}
