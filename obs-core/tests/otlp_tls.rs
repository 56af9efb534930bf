//! A collector behind a private CA: reached over TLS on both transports once its CA is
//! configured, or once the system's root store holds it, and refused (the handshake fails)
//! otherwise. One that requires a client certificate (mutual TLS) gets spans only from a
//! client presenting one its CA signed.

#![cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use obs_core::{Error, OtlpProtocol, Telemetry, TelemetryBuilder};
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
    export_to(&collector, protocol, |builder| {
        if trust {
            builder.otlp_ca_certificate(ca.ca_path())
        } else {
            builder
        }
    })
    .await;
    collector
}

/// Exports one span named `over-tls` to `collector` with the settings of `configure`, and
/// shuts the telemetry down.
async fn export_to(
    collector: &OtlpCollector,
    protocol: OtlpProtocol,
    configure: impl FnOnce(TelemetryBuilder) -> TelemetryBuilder,
) {
    assert!(collector.endpoint().starts_with("https://"));
    let builder = Telemetry::builder("tls-svc")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(protocol)
        .export_timeout(Duration::from_secs(3))
        .log_writer(obs_testkit::LogCapture::default().writer());
    let telemetry = configure(builder).build().unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("over-tls").in_scope(|| {});
    });
    // A failed export is reported by the SDK, not by shutdown: what arrived is the proof.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();
}

async fn check(protocol: OtlpProtocol) {
    let Ok(ca) = TestCa::generate() else { return };

    let trusted = export_one(protocol, &ca, true).await;
    assert_arrived(&trusted, &format!("{protocol:?} over TLS")).await;

    // Without the CA the client refuses the handshake.
    let untrusted = export_one(protocol, &ca, false).await;
    assert_refused(&untrusted, &format!("{protocol:?} without the CA"));
}

/// Asserts that the span `export_to` sent reached `collector`, with no failed handshake.
async fn assert_arrived(collector: &OtlpCollector, case: &str) {
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 1, "{case}: the span did not arrive");
    assert_eq!(spans[0].name(), "over-tls", "{case}");
    assert_eq!(collector.rejected_handshakes(), 0, "{case}");
}

/// Asserts that the TLS handshake with `collector` failed and nothing arrived.
fn assert_refused(collector: &OtlpCollector, case: &str) {
    assert!(
        collector.rejected_handshakes() > 0,
        "{case}: the handshake should have failed"
    );
    assert_eq!(collector.requests(), 0, "{case}: nothing may arrive");
    assert!(collector.spans().is_empty(), "{case}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_over_grpc_and_required() {
    check(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_over_http_and_required() {
    check(OtlpProtocol::HttpProtobuf).await;
}

/// A collector that requires a client certificate signed by `ca` gets the span from a client
/// presenting one, and nothing from a client without one or with one of another CA.
async fn check_client_certificate(protocol: OtlpProtocol) {
    let Ok(ca) = TestCa::generate() else { return };
    let Ok(other) = TestCa::generate() else {
        return;
    };
    let (cert, key, client_ca) = (ca.server_cert_pem(), ca.server_key_pem(), ca.ca_pem());
    let mtls_collector = || async {
        match protocol {
            OtlpProtocol::Grpc => OtlpCollector::start_grpc_mtls(&cert, &key, &client_ca).await,
            _ => OtlpCollector::start_http_mtls(&cert, &key, &client_ca).await,
        }
    };

    let accepted = mtls_collector().await;
    export_to(&accepted, protocol, |b| {
        b.otlp_ca_certificate(ca.ca_path())
            .otlp_client_identity(ca.client_cert_path(), ca.client_key_path())
    })
    .await;
    assert_arrived(&accepted, &format!("{protocol:?} over mutual TLS")).await;

    let identities = [
        None,
        Some((other.client_cert_path(), other.client_key_path())),
    ];
    for identity in identities {
        let refused = mtls_collector().await;
        let presented = identity.is_some();
        export_to(&refused, protocol, |b| {
            let b = b.otlp_ca_certificate(ca.ca_path());
            match identity {
                Some((cert, key)) => b.otlp_client_identity(cert, key),
                None => b,
            }
        })
        .await;
        assert_refused(
            &refused,
            &format!("{protocol:?}, another CA's client certificate: {presented}"),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_over_grpc_and_required() {
    check_client_certificate(OtlpProtocol::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_over_http_and_required() {
    check_client_certificate(OtlpProtocol::HttpProtobuf).await;
}

/// Set in the copy of this test binary that exports with the system's roots.
const CHILD_ENDPOINT: &str = "OBS_TLS_CHILD_ENDPOINT";
const CHILD_PROTOCOL: &str = "OBS_TLS_CHILD_PROTOCOL";

/// Runs [`exporter_with_system_roots`] in a copy of this binary whose system root store is
/// the PEM file `roots` (`SSL_CERT_FILE`, read by rustls-native-certs); panics if it fails.
async fn export_with_system_roots(collector: &OtlpCollector, protocol: &str, roots: &Path) {
    obs_testkit::run_test_in_child("exporter_with_system_roots", |child| {
        child
            .env(CHILD_ENDPOINT, collector.endpoint())
            .env(CHILD_PROTOCOL, protocol)
            .env("SSL_CERT_FILE", roots)
            .env_remove("SSL_CERT_DIR");
    })
    .await;
}

/// The system's root store is trusted too: with the test CA as the store the collector is
/// reached with no CA configured; with an empty store (a scratch image) the exporter still
/// starts, on the webpki roots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_root_store_is_trusted_on_both_transports() {
    if std::env::var_os(CHILD_ENDPOINT).is_some() {
        return;
    }
    let Ok(ca) = TestCa::generate() else { return };
    let empty = std::env::temp_dir().join(format!("obs-no-roots-{}.pem", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    for (protocol, name) in [
        (OtlpProtocol::Grpc, "grpc"),
        (OtlpProtocol::HttpProtobuf, "http/protobuf"),
    ] {
        let trusted = collector(protocol, &ca).await;
        export_with_system_roots(&trusted, name, &ca.ca_path()).await;
        let spans = trusted.wait_for_spans(1, Duration::from_secs(10)).await;
        assert_eq!(
            spans.len(),
            1,
            "{name}: the system's roots were not trusted"
        );
        assert_eq!(spans[0].name(), "system-roots");

        let untrusted = collector(protocol, &ca).await;
        export_with_system_roots(&untrusted, name, &empty).await;
        assert!(untrusted.rejected_handshakes() > 0, "{name}");
        assert!(untrusted.spans().is_empty(), "{name}");
    }
    let _ = std::fs::remove_file(&empty);
}

/// Run by the test above: exports one span, trusting only the system's and webpki roots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run with SSL_CERT_FILE by the_system_root_store_is_trusted_on_both_transports"]
async fn exporter_with_system_roots() {
    let Ok(endpoint) = std::env::var(CHILD_ENDPOINT) else {
        return;
    };
    let protocol = match std::env::var(CHILD_PROTOCOL).as_deref() {
        Ok("grpc") => OtlpProtocol::Grpc,
        _ => OtlpProtocol::HttpProtobuf,
    };
    let telemetry = Telemetry::builder("tls-svc")
        .otlp_endpoint(endpoint)
        .otlp_protocol(protocol)
        .log_writer(obs_testkit::LogCapture::default().writer())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("system-roots").in_scope(|| {});
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
}

fn build_error(path: &Path) -> Error {
    Telemetry::builder("tls-svc")
        .otlp_ca_certificate(path)
        .log_writer(obs_testkit::LogCapture::default().writer())
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
