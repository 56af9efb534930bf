//! Browser spans forwarded to a collector behind a private CA that requires a client
//! certificate (mutual TLS): the forwarder trusts the CA and presents the certificate the
//! `OTEL_EXPORTER_OTLP_*` variables name, as the backend's own exports do.
//!
//! The variables are read from the process environment, so each export runs in a copy of this
//! test binary given them, never by changing this process's environment.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use obs_core::Telemetry;
use obs_core::config::{
    OTEL_EXPORTER_OTLP_CERTIFICATE, OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
};
use obs_testkit::{OtlpCollector, TestCa};

/// Set in the copy of this test binary that forwards one span.
const CHILD_ENDPOINT: &str = "OBS_RUM_TLS_CHILD_ENDPOINT";

/// Runs [`forwarder_with_env_tls`] in a copy of this binary with `vars` set and the client
/// certificate variables otherwise unset; panics if it fails.
async fn forward_one(collector: &OtlpCollector, vars: &[(&str, PathBuf)]) {
    obs_testkit::run_test_in_child("forwarder_with_env_tls", |child| {
        child
            .env(CHILD_ENDPOINT, collector.endpoint())
            .env_remove(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)
            .env_remove(OTEL_EXPORTER_OTLP_CLIENT_KEY)
            .envs(vars.iter().map(|(k, v)| (k, v)));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_spans_reach_a_collector_requiring_a_client_certificate() {
    if std::env::var_os(CHILD_ENDPOINT).is_some() {
        return;
    }
    let Ok(ca) = TestCa::generate() else { return };
    let Ok(other) = TestCa::generate() else {
        return;
    };
    let (cert, key, client_ca) = (ca.server_cert_pem(), ca.server_key_pem(), ca.ca_pem());
    let collector = || OtlpCollector::start_http_mtls(&cert, &key, &client_ca);

    let accepted = collector().await;
    forward_one(
        &accepted,
        &[
            (OTEL_EXPORTER_OTLP_CERTIFICATE, ca.ca_path()),
            (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, ca.client_cert_path()),
            (OTEL_EXPORTER_OTLP_CLIENT_KEY, ca.client_key_path()),
        ],
    )
    .await;
    let spans = accepted.wait_for_spans(1, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), 1, "the browser span did not arrive");
    assert_eq!(spans[0].name(), "HTTP GET");
    assert_eq!(accepted.rejected_handshakes(), 0);

    // Without a client certificate, or with one of another CA, the collector refuses.
    let without = [(OTEL_EXPORTER_OTLP_CERTIFICATE, ca.ca_path())];
    let foreign = [
        (OTEL_EXPORTER_OTLP_CERTIFICATE, ca.ca_path()),
        (
            OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
            other.client_cert_path(),
        ),
        (OTEL_EXPORTER_OTLP_CLIENT_KEY, other.client_key_path()),
    ];
    for vars in [&without[..], &foreign] {
        let refused = collector().await;
        forward_one(&refused, vars).await;
        assert!(refused.rejected_handshakes() > 0, "{vars:?}");
        assert_eq!(refused.requests(), 0, "{vars:?}: nothing may arrive");
    }
}

/// Run by the test above: forwards one browser span with the TLS files of the environment,
/// and flushes it on shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run with the OTEL_* variables by browser_spans_reach_a_collector_requiring_a_client_certificate"]
async fn forwarder_with_env_tls() {
    let Ok(endpoint) = std::env::var(CHILD_ENDPOINT) else {
        return;
    };
    let telemetry = Telemetry::builder("rum-tls")
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = common::forwarding_receiver(&telemetry, endpoint);
    common::post_span_batch(&app, 0).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
}
