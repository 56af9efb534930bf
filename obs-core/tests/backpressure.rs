//! With the collector unreachable and Loki accepting connections but never answering (the
//! pusher waits out its timeout on every push), emitting telemetry never blocks, memory stays
//! bounded below what keeping every line would take, and shutdown keeps its deadline and
//! reports the loss. Its own test binary, so RSS is this test's alone.

#![cfg(all(feature = "otlp-grpc", feature = "loki"))]
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use obs_core::{Error, LogFormat, Telemetry};

/// Lines emitted while both exporters are unreachable.
const LINES: usize = 100_000;
/// Bytes of payload in each line (the rendered JSON line is longer).
const PAYLOAD: usize = 1_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn unreachable_exporters_cost_the_caller_nothing() {
    let shutdown_timeout = Duration::from_secs(2);
    // The kernel completes connections to a listener nobody accepts from: requests are sent
    // and never answered.
    let silent_loki = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let telemetry = Telemetry::builder("backpressure")
        .otlp_endpoint(format!("http://127.0.0.1:{}", common::closed_port()))
        .loki_url(format!("http://{}", silent_loki.local_addr().unwrap()))
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
        for i in 0..LINES {
            tracing::info_span!("work", i).in_scope(|| {
                tracing::info!(i, payload = "x".repeat(PAYLOAD), "event");
            });
        }
    });
    let grown = rss_bytes().saturating_sub(before);

    // Lines beyond the bounded queue were dropped and counted, not buffered without end.
    let exposition = metrics.encode().unwrap();
    let counter = |name: &str| -> u64 {
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {exposition}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        counter("obs_loki_sent_lines_total"),
        0,
        "Loki never answers"
    );
    assert!(
        counter("obs_loki_dropped_lines_total") > 0,
        "queue must shed load: {exposition}"
    );
    // Keeping every line would cost at least LINES * PAYLOAD bytes of text (about 100 MiB),
    // before any line, batch or span overhead. The bounded queues keep it under a third of
    // that; making the Loki queue unbounded fails here.
    assert!(
        grown < 32 * 1024 * 1024,
        "RSS grew by {grown} bytes; keeping every line would take over {} bytes",
        LINES * PAYLOAD
    );

    let started = Instant::now();
    let result = telemetry.shutdown();
    let took = started.elapsed();
    assert!(
        took < shutdown_timeout + Duration::from_millis(1500),
        "shutdown took {took:?} with a {shutdown_timeout:?} timeout"
    );
    // The queued lines could not be flushed in time: the shutdown reports it rather than
    // success.
    assert!(
        matches!(result, Err(Error::ShutdownTimeout(t)) if t == shutdown_timeout),
        "shutdown with Loki silent returned {result:?}"
    );
}
