//! 10 000 random and malformed batches against the RUM receiver: every answer is one of the
//! documented statuses, no log line passes the documented length, and the process's peak
//! memory stays under a stated bound. Its own test binary, so the peak is this test's.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{Request, StatusCode};
use obs_axum::rum::{MAX_LOG_LINE_BYTES, RumReceiver};
use obs_core::Telemetry;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

use common::Rng;

const BATCHES: usize = 10_000;
/// Longest JSON the generator writes (a little over the receiver's 5 MiB limit, so some
/// batches are refused as too large).
const MAX_GENERATED_BYTES: usize = 5 * 1024 * 1024 + 4096;
/// Peak resident memory of the whole test process. Holding the batches' bodies or their log
/// lines would pass it many times over.
const MAX_PEAK_RSS_BYTES: u64 = 256 * 1024 * 1024;

/// A JSON string literal of random length and content: ASCII, escapes, controls, unicode.
fn string(rng: &mut Rng, out: &mut String) {
    let len = match rng.below(10) {
        0 => rng.below(5_000),
        1..=3 => rng.below(300),
        _ => rng.below(20),
    };
    out.push('"');
    for _ in 0..len {
        match rng.below(12) {
            0 => out.push_str("\\\""),
            1 => out.push_str("\\\\"),
            2 => out.push_str("\\u0000"),
            3 => out.push_str("\\n"),
            4 => out.push('é'),
            5 => out.push('🦀'),
            6 => out.push_str("bob@example.com"),
            _ => out.push(char::from(b'a' + rng.below(26) as u8)),
        }
    }
    out.push('"');
}

/// Any JSON value, Faro-shaped often enough to reach deep into the receiver.
fn value(rng: &mut Rng, depth: u32, out: &mut String) {
    const KEYS: &[&str] = &[
        "meta",
        "app",
        "name",
        "page",
        "url",
        "session",
        "id",
        "browser",
        "user",
        "logs",
        "exceptions",
        "measurements",
        "events",
        "traces",
        "resourceSpans",
        "scopeSpans",
        "spans",
        "traceId",
        "spanId",
        "stacktrace",
        "frames",
        "type",
        "value",
        "values",
        "context",
        "attributes",
        "message",
        "level",
        "lcp",
        "cls",
        "rating",
        "trace",
        "trace_id",
        "filename",
        "function",
        "lineno",
        "colno",
        "kind",
        "key",
        "stringValue",
    ];
    // The generator's own output is bounded, just over the receiver's body limit.
    if out.len() > MAX_GENERATED_BYTES {
        out.push('0');
        return;
    }
    match if depth == 0 {
        rng.below(5)
    } else {
        rng.below(8)
    } {
        0 => out.push_str("null"),
        1 => out.push_str(if rng.chance(50) { "true" } else { "false" }),
        2 => out.push_str(&(rng.next() as i64 >> rng.below(60)).to_string()),
        3 => out.push_str(&format!("{}.{}", rng.below(100_000), rng.below(1000))),
        4 => string(rng, out),
        5 => {
            // A long homogeneous array: the flood shape.
            let n = if rng.chance(2) {
                rng.below(100_000)
            } else {
                rng.below(8)
            };
            let item = if rng.chance(50) { "{}" } else { "1" };
            out.push('[');
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                if out.len() > MAX_GENERATED_BYTES {
                    out.push('0');
                } else if rng.chance(3) {
                    value(rng, depth - 1, out);
                } else {
                    out.push_str(item);
                }
            }
            out.push(']');
        }
        _ => {
            let n = rng.below(8);
            out.push('{');
            for i in 0..n {
                if i > 0 {
                    out.push(',');
                }
                let key = rng.pick(KEYS);
                out.push_str(&format!("\"{key}\":"));
                value(rng, depth - 1, out);
            }
            out.push('}');
        }
    }
}

/// A batch of the right shape with random strings everywhere: what gets past parsing and
/// into log lines.
fn faro_shaped(rng: &mut Rng, out: &mut String) {
    let s = |rng: &mut Rng| {
        let mut v = String::new();
        string(rng, &mut v);
        v
    };
    out.push_str(&format!(
        r#"{{"meta":{{"app":{{"name":{}}},"page":{{"url":{}}},"session":{{"id":{}}}}},"#,
        s(rng),
        s(rng),
        s(rng)
    ));
    out.push_str(&format!(
        r#""logs":[{{"message":{},"level":"warn"}}],"exceptions":[{{"type":{},"value":{},"stacktrace":{{"frames":[{{"filename":{},"function":{},"lineno":1}}]}}}}],"#,
        s(rng),
        s(rng),
        s(rng),
        s(rng),
        s(rng)
    ));
    out.push_str(&format!(
        r#""events":[{{"name":{},"attributes":{{"a":{},"b":{}}}}}]}}"#,
        s(rng),
        s(rng),
        s(rng)
    ));
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// One request: a random batch, sometimes broken on purpose; and its `Idempotency-Key`.
fn request(rng: &mut Rng) -> (Request<Body>, Option<String>) {
    let mut json = String::new();
    if rng.chance(40) {
        faro_shaped(rng, &mut json);
    } else {
        value(rng, 6, &mut json);
    }
    if rng.chance(10) {
        // Most batches are objects, so the parser gets past the first check.
        json = format!(
            "{{\"meta\":{{\"app\":{{\"name\":\"todo-frontend\"}}}},\"logs\":{json},\"exceptions\":[{json}]}}"
        );
    }
    let mut body = json.into_bytes();
    match rng.below(10) {
        0 => body.truncate(rng.below(body.len() as u64 + 1) as usize),
        1 => body.iter_mut().for_each(|b| {
            if rng.chance(1) {
                *b = rng.next() as u8;
            }
        }),
        _ => {}
    }
    let mut builder = Request::post("/faro/collect");
    match rng.below(10) {
        0..=3 => {
            body = gzip(&body);
            if rng.chance(5) {
                let at = rng.below(body.len() as u64) as usize;
                body[at] ^= 0xff;
            }
            builder = builder.header("content-encoding", "gzip");
        }
        4 => {
            builder = builder.header(
                "content-encoding",
                rng.pick(&["br", "deflate", "GZIP", "\u{1}"]),
            )
        }
        _ => {}
    }
    if rng.chance(90) {
        builder = builder.header("x-api-key", "fuzz");
    }
    if rng.chance(3) {
        builder = builder.header("content-length", "99999999999");
    }
    let key = rng.chance(20).then(|| format!("k{}", rng.below(50)));
    if let Some(key) = &key {
        builder = builder.header("idempotency-key", key);
    }
    let mut request = match builder.body(Body::from(body)) {
        Ok(r) => r,
        Err(_) => Request::post("/faro/collect").body(Body::empty()).unwrap(),
    };
    let peer = SocketAddr::from(([198, 51, 100, rng.below(4) as u8], 4000));
    request.extensions_mut().insert(ConnectInfo(peer));
    (request, key)
}

/// Counts bytes and the longest line written, keeping nothing.
#[derive(Clone, Default)]
struct LineStats {
    longest: Arc<AtomicUsize>,
    lines: Arc<AtomicUsize>,
}

struct LineStatsWriter(LineStats, usize);

impl Write for LineStatsWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for chunk in buf.split_inclusive(|b| *b == b'\n') {
            self.1 += chunk.len();
            if chunk.ends_with(b"\n") {
                self.0.longest.fetch_max(self.1 - 1, Ordering::Relaxed);
                self.0.lines.fetch_add(1, Ordering::Relaxed);
                self.1 = 0;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process's peak resident set (`VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_and_malformed_batches_get_documented_answers_in_bounded_memory() {
    let stats = LineStats::default();
    let sink = stats.clone();
    let telemetry = Telemetry::builder("rum-fuzz")
        .log_format(obs_core::LogFormat::Json)
        .log_writer(move || LineStatsWriter(sink.clone(), 0))
        .build()
        .unwrap();
    let app = RumReceiver::new(&telemetry)
        .app_names(["todo-frontend"])
        .api_key("fuzz")
        .rate_limit(0.0, 1)
        .client_rate_limit(2000.0, 500)
        .into_router();
    let allowed = [
        StatusCode::ACCEPTED,
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let mut keys_accepted = std::collections::HashSet::new();
    let mut fresh_batches = 0;
    for i in 0..BATCHES {
        let (request, key) = request(&mut rng);
        let status = app
            .clone()
            .oneshot(request)
            .with_subscriber(telemetry.dispatch().clone())
            .await
            .unwrap()
            .status();
        assert!(allowed.contains(&status), "batch {i}: {status}");
        *seen.entry(status.as_u16()).or_default() += 1;
        // A batch repeating an accepted key is answered 202 and not processed again.
        if status == StatusCode::ACCEPTED && key.is_none_or(|k| keys_accepted.insert(k)) {
            fresh_batches += 1;
        }
    }
    let peak = peak_rss();
    let longest = stats.longest.load(Ordering::Relaxed);
    println!(
        "statuses {seen:?}, {} lines, longest {longest} B, peak RSS {} MiB",
        stats.lines.load(Ordering::Relaxed),
        peak / (1024 * 1024)
    );
    // The generator reaches every branch that matters.
    for status in [202, 400, 401, 413] {
        assert!(seen.get(&status).copied().unwrap_or(0) > 10, "{seen:?}");
    }
    // Every batch processed writes at least its own line.
    assert!(stats.lines.load(Ordering::Relaxed) >= fresh_batches);
    assert!(longest <= MAX_LOG_LINE_BYTES, "a {longest}-byte line");
    assert!(
        peak < MAX_PEAK_RSS_BYTES,
        "peak RSS {} MiB",
        peak / (1024 * 1024)
    );
}
