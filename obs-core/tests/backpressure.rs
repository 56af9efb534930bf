//! With the collector and Loki unreachable, emitting telemetry never blocks, memory stays
//! bounded and shutdown keeps its deadline. Its own test binary, so RSS is this test's alone.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use obs_core::{LogFormat, Telemetry};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn unreachable_exporters_cost_the_caller_nothing() {
    let shutdown_timeout = Duration::from_secs(2);
    let telemetry = Telemetry::builder("backpressure")
        .otlp_endpoint(format!("http://127.0.0.1:{}", common::closed_port()))
        .loki_url(format!("http://127.0.0.1:{}", common::closed_port()))
        .span_queue_size(256)
        .shutdown_timeout(shutdown_timeout)
        .log_format(LogFormat::Json)
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics = telemetry.metrics().clone();

    // Warm up allocator and lazily initialised state before the baseline.
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        for i in 0..1_000 {
            tracing::info_span!("warmup", i).in_scope(|| tracing::info!(i, "warm"));
        }
    });
    let before = rss_bytes();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        for i in 0..10_000 {
            tracing::info_span!("work", i).in_scope(|| {
                tracing::info!(i, payload = "x".repeat(200), "event");
            });
        }
    });
    let grown = rss_bytes().saturating_sub(before);

    // Lines beyond the bounded queue were dropped and counted, not buffered without end.
    let exposition = metrics.encode().unwrap();
    let dropped: f64 = exposition
        .lines()
        .find_map(|l| l.strip_prefix("obs_loki_dropped_lines_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(dropped > 0.0, "queue must shed load: {exposition}");
    // 11 000 lines of ~500 bytes would be ~5 MB if all were kept; the queues cap far below
    // what unbounded growth across spans, lines and retries would take.
    assert!(grown < 64 * 1024 * 1024, "RSS grew by {grown} bytes");

    let started = Instant::now();
    let result = telemetry.shutdown();
    let took = started.elapsed();
    assert!(
        took < shutdown_timeout + Duration::from_millis(1500),
        "shutdown took {took:?} with a {shutdown_timeout:?} timeout"
    );
    // Nothing could be delivered, so the shutdown reports the loss rather than success.
    assert!(result.is_err() || dropped > 0.0);
}
