//! `TraceContext::NewRootWithLink`: a client's `traceparent` becomes a link, not the parent, so
//! its sampled flag cannot force sampling on a public edge; `Continue` honours it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::{ObsLayer, TraceContext};
use obs_core::{Telemetry, TraceSampler};
use obs_testkit::{OtlpCollector, ReceivedSpan};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends a sampled `traceparent` to `path`; returns the `traceresponse` header.
async fn call(app: &Router, telemetry: &Telemetry, path: &str) -> String {
    let request = http::Request::get(path)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .body(Body::empty())
        .unwrap();
    let headers = common::send_traced(app, telemetry.dispatch(), request).await;
    headers["traceresponse"].to_str().unwrap().to_owned()
}

/// One router with an internal route (trace continued) and a public one (new root).
fn app(telemetry: &Telemetry) -> Router {
    let internal = Router::new()
        .route("/internal", get(|| async { "in" }))
        .layer(ObsLayer::new(telemetry));
    let public = Router::new()
        .route("/public", get(|| async { "out" }))
        .layer(ObsLayer::new(telemetry).trace_context(TraceContext::NewRootWithLink));
    internal.merge(public)
}

async fn exported(telemetry: Telemetry, collector: &OtlpCollector) -> Vec<ReceivedSpan> {
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    collector.wait_for_spans(1, Duration::from_secs(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_sampled_flag_cannot_force_sampling_on_a_public_edge() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    // Parent-based, ratio 0 for roots: only a sampled remote parent gets a trace recorded.
    let telemetry = Telemetry::builder("edge")
        .otlp_endpoint(collector.endpoint())
        .sampler(TraceSampler::ParentBasedTraceIdRatio(0.0))
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);

    let internal = call(&app, &telemetry, "/internal").await;
    let public = call(&app, &telemetry, "/public").await;
    assert!(internal.starts_with(&format!("00-{CALLER_TRACE}-")) && internal.ends_with("-01"));
    // The public request got a trace of its own, and the ratio left it unsampled.
    assert!(!public.contains(CALLER_TRACE), "{public}");
    assert!(public.ends_with("-00"), "{public}");

    // Flushed after both requests: the continued trace is exported, the public one is not.
    let spans = exported(telemetry, &collector).await;
    let names: Vec<&str> = spans.iter().map(ReceivedSpan::name).collect();
    assert_eq!(names, ["GET /internal"]);
    assert_eq!(spans[0].trace_id(), CALLER_TRACE);
    assert_eq!(spans[0].parent_span_id(), CALLER_SPAN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_root_links_to_the_callers_span() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("edge")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);

    let public = call(&app, &telemetry, "/public").await;
    let spans = exported(telemetry, &collector).await;
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.name(), "GET /public");
    assert_ne!(span.trace_id(), CALLER_TRACE);
    assert!(span.parent_span_id().is_empty(), "a new root");
    assert_eq!(
        public,
        format!("00-{}-{}-01", span.trace_id(), span.span_id())
    );
    let links: Vec<(String, String)> = span
        .span
        .links
        .iter()
        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
        .collect();
    assert_eq!(links, [(CALLER_TRACE.to_owned(), CALLER_SPAN.to_owned())]);
}
