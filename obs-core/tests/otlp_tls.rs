//! A collector behind a private CA: reached over TLS on both transports once its CA is
//! configured, and refused (the handshake fails) without it.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use obs_core::{Error, OtlpProtocol, Telemetry};
use obs_testkit::{OtlpCollector, TestCa};

async fn collector(protocol: OtlpProtocol, ca: &TestCa) -> OtlpCollector {
    let (cert, key) = (ca.server_cert_pem(), ca.server_key_pem());
    match protocol {
        OtlpProtocol::Grpc => OtlpCollector::start_grpc_tls(&cert, &key).await,
        _ => OtlpCollector::start_http_tls(&cert, &key).await,
    }
}

/// Exports one span to a TLS collector, trusting `ca` when given; returns what arrived.
async fn export_one(protocol: OtlpProtocol, ca: &TestCa, trust: bool) -> OtlpCollector {
    let collector = collector(protocol, ca).await;
    assert!(collector.endpoint().starts_with("https://"));
    let mut builder = Telemetry::builder("tls-svc")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(protocol)
        .export_timeout(Duration::from_secs(3))
        .log_writer(common::Captured::default());
    if trust {
        builder = builder.otlp_ca_certificate(ca.ca_path());
    }
    let telemetry = builder.build().unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("over-tls").in_scope(|| {});
    });
    // A failed export is reported by the SDK, not by shutdown: what arrived is the proof.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
    collector
}

async fn check(protocol: OtlpProtocol) {
    let Ok(ca) = TestCa::generate() else { return };

    let trusted = export_one(protocol, &ca, true).await;
    let spans = trusted.wait_for_spans(1, Duration::from_secs(10)).await;
    assert_eq!(
        spans.len(),
        1,
        "{protocol:?}: the span did not arrive over TLS"
    );
    assert_eq!(spans[0].name(), "over-tls");
    assert_eq!(trusted.rejected_handshakes(), 0, "{protocol:?}");

    let untrusted = export_one(protocol, &ca, false).await;
    assert!(
        untrusted.rejected_handshakes() > 0,
        "{protocol:?}: without the CA the client should refuse the handshake"
    );
    assert_eq!(untrusted.requests(), 0, "{protocol:?}: nothing may arrive");
    assert!(untrusted.spans().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_over_grpc_and_required() {
    check(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_over_http_and_required() {
    check(OtlpProtocol::HttpProtobuf).await;
}

fn build_error(path: &std::path::Path) -> Error {
    Telemetry::builder("tls-svc")
        .otlp_ca_certificate(path)
        .log_writer(common::Captured::default())
        .build()
        .map(|_| ())
        .unwrap_err()
}

#[test]
fn a_missing_or_empty_ca_file_is_a_startup_error_naming_the_setting() {
    let dir = std::env::temp_dir().join(format!("obs-otlp-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.pem");
    let message = build_error(&missing).to_string();
    assert!(
        message.contains("TelemetryBuilder::otlp_ca_certificate")
            && message.contains("missing.pem")
            && message.contains("cannot read"),
        "{message}"
    );

    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let message = build_error(&empty).to_string();
    assert!(message.contains("no PEM certificate"), "{message}");

    let _ = std::fs::remove_dir_all(&dir);
}
