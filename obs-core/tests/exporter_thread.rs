//! What the exporters themselves do (the OTLP client's spans and events) is never exported,
//! even with every level enabled, while their log lines are still written; and the
//! application's own spans are.
//!
//! Its own test binary: the telemetry is installed as the global subscriber, as services run it.

#![cfg(feature = "otlp-grpc")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use obs_core::{LogFormat, Telemetry};
use obs_testkit::{LogCapture, OtlpCollector};

/// A collector on a thread of its own that traces nothing: its HTTP/2 server's spans would
/// otherwise be the application's, exported to it in turn.
fn untraced_collector() -> OtlpCollector {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _untraced = tracing::dispatcher::set_default(&tracing::Dispatch::none());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            sender.send(OtlpCollector::start_grpc().await).unwrap();
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporters_own_spans_are_not_exported() {
    let collector = untraced_collector();
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("loop")
        .otlp_endpoint(collector.endpoint())
        // Everything, the HTTP/2 client's trace-level spans included.
        .log_filter("trace")
        .trace_filter("trace")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .init()
        .unwrap();
    for round in 0..3 {
        tracing::info_span!("checkout", round).in_scope(|| tracing::info!("paid"));
        // Let the exporter send a batch (and log about it) between rounds.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(3, Duration::from_secs(10)).await;
    // Give a stray span the time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["checkout"; 3], "{spans:#?}");

    // The exporter's log lines are written, outside any trace.
    let lines = logs.json_lines();
    let exporter_lines: Vec<_> = lines
        .iter()
        .filter(|l| {
            let target = l["target"].as_str().unwrap_or_default();
            ["h2", "hyper", "tonic", "tower"]
                .iter()
                .any(|crate_name| target.starts_with(crate_name))
        })
        .collect();
    assert!(!exporter_lines.is_empty(), "no exporter log lines");
    for line in exporter_lines {
        assert!(line.get("trace_id").is_none(), "{line}");
    }
    // The application's lines carry their trace.
    let paid = lines.iter().filter(|l| l["message"] == "paid").count();
    assert_eq!(paid, 3);
}
