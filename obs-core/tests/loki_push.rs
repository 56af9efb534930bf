//! Log lines reach a Loki push endpoint with bounded labels and the exported span's trace id.

#![cfg(all(feature = "otlp-grpc", feature = "loki"))]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use obs_core::{LogFormat, Telemetry};
use obs_testkit::{LokiReceiver, OtlpCollector};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_carry_labels_and_the_trace_id_of_the_exported_span() {
    let loki = LokiReceiver::start().await;
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("loki-svc")
        .instance_id("loki-1")
        .otlp_endpoint(collector.endpoint())
        .loki_url(loki.url())
        .log_format(LogFormat::Json)
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics = telemetry.metrics().clone();

    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("place_order").in_scope(|| {
            tracing::error!(order.id = 7, "payment declined");
        });
        tracing::info!("no span here");
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .expect("flushed");

    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    let span = spans
        .iter()
        .find(|s| s.name() == "place_order")
        .expect("span exported");

    let entry = loki
        .wait_for(Duration::from_secs(10), |e| {
            e.line.contains("payment declined")
        })
        .await
        .expect("line pushed to Loki");
    assert_eq!(entry.label("service").as_deref(), Some("loki-svc"));
    assert_eq!(entry.label("instance").as_deref(), Some("loki-1"));
    assert_eq!(entry.label("level").as_deref(), Some("error"));
    assert_eq!(
        entry.labels.matches('=').count(),
        3,
        "only service, instance and level are labels: {}",
        entry.labels
    );
    let line: serde_json::Value = serde_json::from_str(&entry.line).unwrap();
    assert_eq!(line["trace_id"], span.trace_id().as_str());
    assert_eq!(line["span_id"], span.span_id().as_str());
    assert_eq!(line["fields"]["order.id"], 7);
    assert!(entry.timestamp_ns > 1_600_000_000_000_000_000);

    let plain = loki
        .wait_for(Duration::from_secs(1), |e| e.line.contains("no span here"))
        .await
        .expect("second line");
    assert_eq!(plain.label("level").as_deref(), Some("info"));

    let exposition = metrics.encode().unwrap();
    assert_eq!(
        obs_testkit::Exposition::parse(&exposition)
            .unwrap()
            .value("obs_loki_sent_lines_total", &[]),
        Some(2.0),
        "{exposition}"
    );
}
