//! Traces have their own filter: a quiet log filter (`RUST_LOG=warn`) keeps `INFO` spans
//! exported and the trace ids on the log lines written inside them.

#![cfg(feature = "otlp-grpc")]
#![allow(clippy::unwrap_used)]

use obs_testkit::LogCapture;
use std::time::Duration;

use obs_core::{LogFormat, OtlpProtocol, Telemetry};
use obs_testkit::OtlpCollector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_log_filter_keeps_spans_and_trace_ids() {
    let collector = OtlpCollector::start_grpc().await;
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("quiet-svc")
        .log_filter("warn")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(OtlpProtocol::Grpc)
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!(target: "obs_axum", "HTTP request", otel.name = "GET /todos").in_scope(
            || {
                tracing::info!("not logged at warn");
                tracing::debug_span!("too fine for either filter").in_scope(|| {
                    tracing::warn!("slow query");
                });
            },
        );
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["GET /todos"]);

    let lines = logs.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message"], "slow query");
    assert_eq!(lines[0]["trace_id"], spans[0].trace_id().as_str());
    assert_eq!(lines[0]["span_id"], spans[0].span_id().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_filter_drops_spans_the_log_filter_keeps() {
    let collector = OtlpCollector::start_grpc().await;
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("picky-svc")
        .log_filter("info")
        .trace_filter("warn,kept=info")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(OtlpProtocol::Grpc)
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!(target: "dropped", "noisy").in_scope(|| tracing::info!("logged"));
        tracing::info_span!(target: "kept", "wanted").in_scope(|| {});
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["wanted"]);
    let lines = logs.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["message"], "logged");
    assert_eq!(lines[0]["span"]["name"], "noisy");
    assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
}
