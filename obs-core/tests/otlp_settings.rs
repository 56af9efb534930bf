//! The export settings users set through `OTEL_*` or the builder reach the wire: gzip and
//! headers on both transports, the `none` and `console` exporters, and the propagators.

#![cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
#![allow(clippy::unwrap_used)]

use obs_testkit::LogCapture;
use std::collections::HashMap;
use std::time::Duration;

use obs_core::{LogFormat, OtlpCompression, OtlpProtocol, Propagator, Telemetry, TracesExporter};
use obs_testkit::OtlpCollector;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue, baggage::BaggageExt};
use tracing_opentelemetry::OpenTelemetrySpanExt;

async fn collector(protocol: OtlpProtocol) -> OtlpCollector {
    match protocol {
        OtlpProtocol::Grpc => OtlpCollector::start_grpc().await,
        _ => OtlpCollector::start_http().await,
    }
}

async fn shutdown(telemetry: Telemetry) {
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
}

/// Exports one span through `protocol` with `compression` and an API-key header; returns the
/// headers of the one export request.
async fn export_one(
    protocol: OtlpProtocol,
    compression: OtlpCompression,
) -> obs_testkit::RequestHeaders {
    let collector = collector(protocol).await;
    let telemetry = Telemetry::builder("settings-svc")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(protocol)
        .otlp_compression(compression)
        .otlp_header("x-api-key", "s3cr3t,with=odd%chars")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("work").in_scope(|| {});
    });
    shutdown(telemetry).await;
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 1, "{protocol:?} {compression:?}");
    assert_eq!(spans[0].name(), "work");
    let headers = collector.request_headers();
    assert_eq!(headers.len(), 1);
    headers.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_headers_reach_the_collector_over_grpc() {
    let headers = export_one(OtlpProtocol::Grpc, OtlpCompression::Gzip).await;
    assert_eq!(headers["grpc-encoding"], "gzip");
    assert_eq!(headers["x-api-key"], "s3cr3t,with=odd%chars");
    let plain = export_one(OtlpProtocol::Grpc, OtlpCompression::None).await;
    assert_eq!(plain.get("grpc-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_and_headers_reach_the_collector_over_http() {
    let headers = export_one(OtlpProtocol::HttpProtobuf, OtlpCompression::Gzip).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-api-key"], "s3cr3t,with=odd%chars");
    let plain = export_one(OtlpProtocol::HttpProtobuf, OtlpCompression::None).await;
    assert_eq!(plain.get("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_none_exporter_sends_nothing_and_logs_keep_trace_ids() {
    let collector = OtlpCollector::start_grpc().await;
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("quiet-svc")
        .otlp_endpoint(collector.endpoint())
        .traces_exporter(TracesExporter::None)
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    let trace_id = tracing::dispatcher::with_default(telemetry.dispatch(), || {
        let span = tracing::info_span!("work");
        let _entered = span.enter();
        tracing::info!("inside");
        span.context().span().span_context().trace_id().to_string()
    });
    shutdown(telemetry).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(collector.requests(), 0);
    let lines = logs.json_lines();
    assert_eq!(lines[0]["trace_id"], trace_id.as_str());
    assert_ne!(trace_id, "0".repeat(32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_exporter_writes_one_json_line_per_span() {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("console-svc")
        .traces_exporter(TracesExporter::Console)
        .log_filter("off")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    let (trace_id, span_id) = tracing::dispatcher::with_default(telemetry.dispatch(), || {
        let span = tracing::info_span!("checkout", order.id = 42);
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        drop(span);
        (sc.trace_id().to_string(), sc.span_id().to_string())
    });
    shutdown(telemetry).await;
    let lines = logs.json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let span = &lines[0];
    assert_eq!(span["span"], "checkout");
    assert_eq!(span["trace_id"], trace_id.as_str());
    assert_eq!(span["span_id"], span_id.as_str());
    assert_eq!(span["kind"], "internal");
    assert_eq!(span["attributes"]["order.id"], "42");
}

fn injected(telemetry: &Telemetry) -> HashMap<String, String> {
    let cx = Context::new().with_baggage(vec![KeyValue::new("tenant", "acme")]);
    let cx = cx.with_remote_span_context(opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    ));
    let mut carrier = HashMap::new();
    telemetry.propagator().inject_context(&cx, &mut carrier);
    carrier
}

#[test]
fn propagators_default_to_trace_context_and_baggage() {
    let telemetry = Telemetry::builder("p")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let carrier = injected(&telemetry);
    assert_eq!(
        carrier["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(carrier["baggage"], "tenant=acme");

    let only_tc = Telemetry::builder("p")
        .propagators([Propagator::TraceContext])
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let carrier = injected(&only_tc);
    assert!(carrier.contains_key("traceparent"));
    assert_eq!(carrier.get("baggage"), None);

    let none = Telemetry::builder("p")
        .propagators([])
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    assert!(injected(&none).is_empty());
}
