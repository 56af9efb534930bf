//! Spans reach a real OTLP collector over gRPC and over HTTP/protobuf.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use obs_core::{OtlpProtocol, Telemetry};
use obs_testkit::{OtlpCollector, ReceivedSpan};

#[tracing::instrument(fields(order.id = 42))]
fn checkout() {
    tracing::info_span!("charge_card", payment.provider = "acme").in_scope(|| {
        tracing::info!("charged");
    });
}

async fn export_through(collector: &OtlpCollector, protocol: OtlpProtocol) -> Vec<ReceivedSpan> {
    let logs = common::Captured::default();
    let telemetry = Telemetry::builder("checkout-svc")
        .service_version("1.2.3")
        .instance_id("checkout-1")
        .environment("test")
        .resource_attribute("team", "payments")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(protocol)
        .log_writer(logs)
        .build()
        .expect("telemetry builds");
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    // Shutdown blocks while it flushes: keep it off the async workers.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .expect("flushed in time");
    collector.wait_for_spans(2, Duration::from_secs(10)).await
}

fn assert_checkout_trace(spans: &[ReceivedSpan]) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let outer = spans
        .iter()
        .find(|s| s.name() == "checkout")
        .expect("outer span");
    let inner = spans
        .iter()
        .find(|s| s.name() == "charge_card")
        .expect("inner span");

    for span in [outer, inner] {
        assert_eq!(span.resource["service.name"], "checkout-svc");
        assert_eq!(span.resource["service.version"], "1.2.3");
        assert_eq!(span.resource["service.instance.id"], "checkout-1");
        assert_eq!(span.resource["deployment.environment.name"], "test");
        assert_eq!(span.resource["team"], "payments");
    }
    assert_eq!(inner.trace_id(), outer.trace_id());
    assert_eq!(inner.parent_span_id(), outer.span_id());
    assert!(outer.parent_span_id().is_empty(), "outer is a root span");
    assert_eq!(outer.trace_id().len(), 32);
    assert_eq!(outer.int_attr("order.id"), Some(42));
    assert_eq!(inner.attr("payment.provider").as_deref(), Some("acme"));
    // The event inside the span travels as a span event.
    assert!(inner.span.events.iter().any(|e| e.name == "charged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_grpc() {
    let collector = OtlpCollector::start_grpc().await;
    let spans = export_through(&collector, OtlpProtocol::Grpc).await;
    assert_checkout_trace(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_http_protobuf() {
    let collector = OtlpCollector::start_http().await;
    let spans = export_through(&collector, OtlpProtocol::HttpProtobuf).await;
    assert_checkout_trace(&spans);
}

/// Exporting must not depend on the application's runtime: a current-thread runtime that is
/// busy (or absent) while spans are flushed still gets them delivered.
#[test]
fn export_works_without_an_application_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let collector = rt.block_on(OtlpCollector::start_grpc());
    let telemetry = Telemetry::builder("plain-thread")
        .otlp_endpoint(collector.endpoint())
        .log_writer(common::Captured::default())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    telemetry.shutdown().expect("flushed from a plain thread");
    let spans = rt.block_on(collector.wait_for_spans(2, Duration::from_secs(10)));
    assert_eq!(spans.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampler_always_off_exports_nothing_but_keeps_trace_ids_in_logs() {
    let collector = OtlpCollector::start_grpc().await;
    let logs = common::Captured::default();
    let telemetry = Telemetry::builder("sampled-out")
        .otlp_endpoint(collector.endpoint())
        .sampler(obs_core::TraceSampler::AlwaysOff)
        .log_format(obs_core::LogFormat::Json)
        .log_writer(logs.clone())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collector.requests(), 0, "nothing sampled, nothing sent");
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l["message"] == "charged")
        .unwrap();
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
}

/// `https://` collectors get TLS (rustls with the webpki roots) on both transports: building
/// succeeds, and an unreachable TLS endpoint costs the caller nothing.
#[test]
fn https_endpoints_build_with_tls_on_both_transports() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let telemetry = Telemetry::builder("tls")
            .otlp_endpoint(format!("https://127.0.0.1:{}", common::closed_port()))
            .otlp_protocol(protocol)
            .shutdown_timeout(Duration::from_secs(2))
            .log_writer(common::Captured::default())
            .build()
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
        tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
        let started = std::time::Instant::now();
        let _ = telemetry.shutdown();
        assert!(started.elapsed() < Duration::from_secs(4), "{protocol:?}");
    }
}
