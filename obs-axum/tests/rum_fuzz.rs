//! Generated hostile batches against the RUM receiver (proptest): every answer is one of the
//! documented statuses, no log line passes the documented length, and the process's peak
//! memory stays under a stated bound. Its own test binary, so the peak is this test's.
//!
//! A failing case is shrunk and saved next to this file in `rum_fuzz.proptest-regressions`,
//! which is committed: saved cases run first on every later run.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::{Request, StatusCode};
use obs_axum::rum::{DEFAULT_MAX_BODY_BYTES, MAX_LOG_LINE_BYTES, RumReceiver};
use obs_core::Telemetry;
use proptest::prelude::*;
use proptest::sample::Index;
use tower::ServiceExt;
use tracing::instrument::WithSubscriber;

/// Cases per run: enough to reach every status many times, few enough for about 10 s in a
/// debug build.
const CASES: u32 = 1_000;
/// Peak resident memory of the whole test process. Holding the batches' bodies or their log
/// lines would pass it many times over.
const MAX_PEAK_RSS_BYTES: u64 = 256 * 1024 * 1024;

/// A JSON string literal of any length and content: ASCII, escapes, controls, unicode, PII.
fn json_string() -> impl Strategy<Value = String> {
    // One byte per piece keeps generation and shrinking cheap. Long strings repeat a pattern:
    // up to about 80 KiB, well past the receiver's per-string cap, so that a line holding one
    // uncut would pass MAX_LOG_LINE_BYTES.
    let pieces = prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..20),
        3 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (prop::collection::vec(any::<u8>(), 1..64), 1..400usize)
            .prop_map(|(pattern, times)| pattern.repeat(times)),
    ];
    pieces.prop_map(|pieces| {
        let mut out = String::from("\"");
        for piece in pieces {
            match piece % 12 {
                0 => out.push_str("\\\""),
                1 => out.push_str("\\\\"),
                2 => out.push_str("\\u0000"),
                3 => out.push_str("\\n"),
                4 => out.push('é'),
                5 => out.push('🦀'),
                6 => out.push_str("bob@example.com"),
                _ => out.push(char::from(b'a' + piece % 26)),
            }
        }
        out.push('"');
        out
    })
}

/// Any JSON value (as text), Faro-shaped keys often enough to reach deep into the receiver,
/// now and then a long homogeneous array: the flood shape.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        (any::<i64>(), 0..60u32).prop_map(|(n, shift)| (n >> shift).to_string()),
        (0..100_000u32, 0..1_000u32).prop_map(|(int, frac)| format!("{int}.{frac}")),
        json_string(),
    ];
    leaf.prop_recursive(6, 256, 8, |inner| {
        prop_oneof![
            // A short array of anything.
            3 => prop::collection::vec(inner.clone(), 0..8)
                .prop_map(|items| format!("[{}]", items.join(","))),
            // A flood: many identical small items, a few arbitrary ones at the end.
            1 => (
                0..100_000usize,
                prop_oneof![Just("{}"), Just("1")],
                prop::collection::vec(inner.clone(), 0..3),
            )
                .prop_map(|(n, item, tail)| {
                    let mut items: Vec<&str> = std::iter::repeat_n(item, n).collect();
                    items.extend(tail.iter().map(String::as_str));
                    format!("[{}]", items.join(","))
                }),
            4 => prop::collection::vec((prop::sample::select(common::FARO_KEYS), inner), 0..8).prop_map(
                |entries| {
                    let entries: Vec<String> =
                        entries.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", entries.join(","))
                }
            ),
        ]
    })
}

/// A batch of the right shape with hostile strings everywhere: what gets past parsing and into
/// log lines.
fn faro_shaped() -> impl Strategy<Value = String> {
    prop::collection::vec(json_string(), 11).prop_map(|s| {
        format!(
            concat!(
                r#"{{"meta":{{"app":{{"name":{}}},"page":{{"url":{}}},"session":{{"id":{}}}}},"#,
                r#""logs":[{{"message":{},"level":"warn"}}],"#,
                r#""exceptions":[{{"type":{},"value":{},"stacktrace":{{"frames":[{{"filename":{},"function":{},"lineno":1}}]}}}}],"#,
                r#""events":[{{"name":{},"attributes":{{"a":{},"b":{}}}}}]}}"#
            ),
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10]
        )
    })
}

/// A body just over the receiver's limit.
fn oversized() -> impl Strategy<Value = String> {
    (1..4096usize)
        .prop_map(|extra| format!("[{}1]", "1,".repeat(DEFAULT_MAX_BODY_BYTES / 2 + extra)))
}

/// How the body is broken after it is written.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Cut at this point.
    Truncate(Index),
    /// These bytes overwritten.
    Overwrite(Vec<(Index, u8)>),
}

/// What the request says about its encoding.
#[derive(Debug, Clone)]
enum Encoding {
    Identity,
    /// Gzip, with the compressed byte at this point inverted when present.
    Gzip(Option<Index>),
    /// A `Content-Encoding` the receiver does not take (or a malformed one).
    Unsupported(&'static str),
}

/// One generated request, before it is built.
#[derive(Debug, Clone)]
struct Batch {
    json: String,
    /// Put the JSON in a Faro batch's `logs` and `exceptions`, so the parser gets past the
    /// first check.
    wrapped: bool,
    damage: Damage,
    encoding: Encoding,
    api_key: bool,
    /// `Content-Length: 99999999999`.
    huge_length: bool,
    idempotency_key: Option<u8>,
    /// The peer's last address byte: four clients share the per-client rate limit.
    peer: u8,
}

fn batch() -> impl Strategy<Value = Batch> {
    let json = prop_oneof![
        40 => faro_shaped(),
        58 => json_value(),
        2 => oversized(),
    ];
    let damage = prop_oneof![
        8 => Just(Damage::None),
        1 => any::<Index>().prop_map(Damage::Truncate),
        1 => prop::collection::vec((any::<Index>(), any::<u8>()), 1..16).prop_map(Damage::Overwrite),
    ];
    let encoding = prop_oneof![
        5 => Just(Encoding::Identity),
        4 => proptest::option::weighted(0.05, any::<Index>()).prop_map(Encoding::Gzip),
        1 => prop::sample::select(&["br", "deflate", "GZIP", "\u{1}"][..]).prop_map(Encoding::Unsupported),
    ];
    (
        json,
        proptest::bool::weighted(0.1),
        damage,
        encoding,
        proptest::bool::weighted(0.9),
        proptest::bool::weighted(0.03),
        proptest::option::weighted(0.2, 0..50u8),
        0..4u8,
    )
        .prop_map(
            |(json, wrapped, damage, encoding, api_key, huge_length, idempotency_key, peer)| {
                Batch {
                    json,
                    wrapped,
                    damage,
                    encoding,
                    api_key,
                    huge_length,
                    idempotency_key,
                    peer,
                }
            },
        )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

impl Batch {
    fn request(&self) -> Request<Body> {
        let json = if self.wrapped {
            let json = &self.json;
            format!(
                "{{\"meta\":{{\"app\":{{\"name\":\"todo-frontend\"}}}},\"logs\":{json},\"exceptions\":[{json}]}}"
            )
        } else {
            self.json.clone()
        };
        let mut body = json.into_bytes();
        match &self.damage {
            Damage::None => {}
            Damage::Truncate(at) => body.truncate(at.index(body.len() + 1)),
            Damage::Overwrite(bytes) if !body.is_empty() => {
                for (at, byte) in bytes {
                    let at = at.index(body.len());
                    body[at] = *byte;
                }
            }
            Damage::Overwrite(_) => {}
        }
        let mut builder = Request::post("/faro/collect");
        match &self.encoding {
            Encoding::Identity => {}
            Encoding::Gzip(corrupt) => {
                body = gzip(&body);
                if let Some(at) = corrupt {
                    let at = at.index(body.len());
                    body[at] ^= 0xff;
                }
                builder = builder.header("content-encoding", "gzip");
            }
            Encoding::Unsupported(name) => builder = builder.header("content-encoding", *name),
        }
        if self.api_key {
            builder = builder.header("x-api-key", "fuzz");
        }
        if self.huge_length {
            builder = builder.header("content-length", "99999999999");
        }
        if let Some(key) = self.idempotency_key {
            builder = builder.header("idempotency-key", format!("k{key}"));
        }
        // A header value the client library refuses: the request goes out without them.
        let mut request = builder
            .body(Body::from(body))
            .unwrap_or_else(|_| Request::post("/faro/collect").body(Body::empty()).unwrap());
        let peer = SocketAddr::from(([198, 51, 100, self.peer], 4000));
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }
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

/// What the run saw across cases.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<u16, usize>,
    keys_accepted: HashSet<u8>,
    /// Batches answered 202 that were processed: not a repeat of an accepted key.
    fresh_batches: usize,
}

#[test]
fn generated_hostile_batches_get_documented_answers_in_bounded_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stats = LineStats::default();
    let sink = stats.clone();
    let (telemetry, app): (Telemetry, Router) = runtime.block_on(async {
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
        (telemetry, app)
    });
    let allowed = [
        StatusCode::ACCEPTED,
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    let seen = RefCell::new(Seen::default());
    common::check(common::proptest_config(CASES, file!()), batch(), |batch| {
        let status = runtime.block_on(
            app.clone()
                .oneshot(batch.request())
                .with_subscriber(telemetry.dispatch().clone()),
        );
        let status = status.unwrap().status();
        prop_assert!(allowed.contains(&status), "answered {status}");
        let longest = stats.longest.load(Ordering::Relaxed);
        prop_assert!(longest <= MAX_LOG_LINE_BYTES, "a {longest}-byte line");
        let mut seen = seen.borrow_mut();
        *seen.statuses.entry(status.as_u16()).or_default() += 1;
        // A batch repeating an accepted key is answered 202 and not processed again.
        if status == StatusCode::ACCEPTED
            && batch
                .idempotency_key
                .is_none_or(|k| seen.keys_accepted.insert(k))
        {
            seen.fresh_batches += 1;
        }
        Ok(())
    });

    let seen = seen.into_inner();
    let peak = peak_rss();
    let lines = stats.lines.load(Ordering::Relaxed);
    println!(
        "statuses {:?}, {lines} lines, longest {} B, peak RSS {} MiB",
        seen.statuses,
        stats.longest.load(Ordering::Relaxed),
        peak / (1024 * 1024)
    );
    // The generator reaches every branch that matters.
    for status in [202, 400, 401, 413] {
        assert!(
            seen.statuses.get(&status).copied().unwrap_or(0) > 10,
            "{:?}",
            seen.statuses
        );
    }
    // Every batch processed writes at least its own line.
    assert!(lines >= seen.fresh_batches);
    assert!(
        peak < MAX_PEAK_RSS_BYTES,
        "peak RSS {} MiB",
        peak / (1024 * 1024)
    );
}
