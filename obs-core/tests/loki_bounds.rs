//! The Loki queue is bounded in bytes as well as lines, and no pushed line is longer than
//! Loki's default line limit.

#![cfg(feature = "loki")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use obs_core::names::{LOKI_CUT_MARKER, LOKI_MAX_LINE_BYTES, LOKI_QUEUE_BYTES};
use obs_core::{LogFormat, Telemetry};
use obs_testkit::LokiReceiver;

fn dropped_lines(metrics: &obs_core::Metrics) -> f64 {
    let exposition = metrics.encode().unwrap();
    exposition
        .lines()
        .find_map(|l| l.strip_prefix("obs_loki_dropped_lines_total "))
        .unwrap_or_else(|| panic!("no dropped counter in {exposition}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_over_lokis_limit_is_cut_with_the_marker() {
    let loki = LokiReceiver::start().await;
    let telemetry = Telemetry::builder("loki-bounds")
        .loki_url(loki.url())
        .log_format(LogFormat::Json)
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics = telemetry.metrics().clone();

    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info!(payload = "€".repeat(400_000), "huge");
        tracing::info!("small");
    });
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .expect("flushed");

    let huge = loki
        .wait_for(Duration::from_secs(10), |e| e.line.contains("€€€"))
        .await
        .expect("the cut line is pushed, not dropped");
    // 1.2 MB rendered; what Loki gets is its limit, cut between characters, marked.
    assert!(huge.line.len() <= LOKI_MAX_LINE_BYTES);
    assert!(huge.line.len() > LOKI_MAX_LINE_BYTES - 3 - LOKI_CUT_MARKER.len());
    assert!(
        huge.line.ends_with(&format!("€{LOKI_CUT_MARKER}")),
        "{}",
        huge.line.chars().take(80).collect::<String>()
    );

    let small = loki
        .wait_for(Duration::from_secs(1), |e| e.line.contains("\"small\""))
        .await
        .expect("the next line");
    let small: serde_json::Value = serde_json::from_str(&small.line).unwrap();
    assert_eq!(small["message"], "small");
    assert_eq!(loki.entries().len(), 2);
    assert_eq!(dropped_lines(&metrics), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_bytes_are_bounded_while_loki_does_not_answer() {
    // Accepts connections and never answers: every push waits for the client timeout, so
    // nothing queued is released while the lines below are logged.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", stalled.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = stalled.accept().await {
            open.push(socket);
        }
    });
    let telemetry = Telemetry::builder("loki-bounds")
        .loki_url(url)
        .log_format(LogFormat::Json)
        .log_writer(std::io::sink)
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let metrics = telemetry.metrics().clone();

    // Each line is cut to exactly LOKI_MAX_LINE_BYTES, so the budget holds this many.
    let fit = LOKI_QUEUE_BYTES / LOKI_MAX_LINE_BYTES;
    assert_eq!(fit, 32);
    let payload = "x".repeat(LOKI_MAX_LINE_BYTES);
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        for i in 0..fit + 8 {
            tracing::info!(i, payload = payload.as_str(), "big");
        }
    });
    // 40 lines, far fewer than the 8192 the line bound allows: the byte bound drops 8.
    assert_eq!(dropped_lines(&metrics), 8.0);

    tracing::dispatcher::with_default(telemetry.dispatch(), || tracing::info!("one more"));
    assert_eq!(dropped_lines(&metrics), 9.0, "the queue stays full");

    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    held.abort();
}
