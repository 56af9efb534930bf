//! Per-request overhead of HTTP instrumentation, obs against its peers, measured side by side.
//!
//! One router with a trivial handler, driven in-process with `oneshot` on a current-thread
//! runtime. Every variant runs under the same global subscriber (obs telemetry without an
//! exporter, filter `info`), so span costs are comparable.
//!
//! Two measurements:
//! - `http_request/*`: one criterion group per variant, for absolute numbers;
//! - `paired`: every variant in each round, in an order rotated round by round, reported as
//!   the median of per-round overheads over `bare` and the ratios the targets are stated in,
//!   with their interquartile range. Separate criterion groups drift by 20–30% on a shared
//!   machine; the paired rounds see the same drift in every variant and cancel it.
//!
//! `cargo bench -p obs-benches --bench http` (all), `... --bench http -- paired` (paired only).
//!
//! A third mode counts instructions rather than time: `<bench binary> count <variant> <n>` runs
//! only `n` requests of one variant, to be run under `valgrind --tool=callgrind` twice with
//! different `n`; the difference of the totals over the difference of `n` is what one request
//! of that variant executes, setup excluded. Deterministic, so it resolves what the shared
//! machine's timing cannot.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "http/floor.rs"]
mod floor;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Level;

async fn handler() -> &'static str {
    "ok"
}

fn base() -> Router {
    Router::new().route("/todos/{id}", get(handler))
}

/// Sends one request and reads the whole response. Returns whether the response says its
/// trace was sampled (`traceresponse` flags `01`); every variant pays that header lookup, so it
/// cancels out of the overheads.
async fn drive(app: &Router) -> bool {
    // The header is read by the custom-labels variant; the others pay only for sending it.
    let request = axum::http::Request::get("/todos/42")
        .header("x-api-version", "v2")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let sampled = response
        .headers()
        .get("traceresponse")
        .is_some_and(|v| v.as_bytes().ends_with(b"-01"));
    let body = response.into_body().collect().await.unwrap();
    std::hint::black_box(body);
    sampled
}

fn trace_layer()
-> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>>
{
    // Spans at INFO like ours, so they are enabled under the same filter.
    TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(Level::INFO))
}

/// The full layer under [`sampled_telemetry`]; its requests run under that dispatch.
const SAMPLED_10: &str = "obs_full_sampler_10pct";
/// The full layer as `ObsLayer::new(&telemetry)` builds it over the global telemetry: the
/// telemetry's head sampler decides before the span opens, and its propagators, which the
/// layer then knows, are not asked about a request without their headers.
/// `obs_metrics_and_span` is `ObsLayer::from_metrics`: the global propagator, no head sampler.
const FULL_FROM_TELEMETRY: &str = "obs_full_from_telemetry";
/// Metrics only, with a header label and a response label.
const CUSTOM_LABELS: &str = "obs_metrics_custom_labels";
/// The fixed-series layer of `floor.rs`: the floor under the metrics-only target.
const FLOOR: &str = "floor_metrics_only";

/// The variants, in the order they are reported. `rt` runs axum-prometheus's upkeep task.
fn variants(
    (metrics, full): &(obs_core::Metrics, obs_axum::ObsLayer),
    rt: &tokio::runtime::Runtime,
) -> Vec<(&'static str, Router)> {
    // axum-prometheus spawns its upkeep task while creating the recorder, and its recorder is
    // global: one per process.
    static PROMETHEUS: std::sync::OnceLock<axum_prometheus::PrometheusMetricLayer<'static>> =
        std::sync::OnceLock::new();
    let prom_layer = PROMETHEUS
        .get_or_init(|| {
            let _entered = rt.enter();
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            std::mem::forget(handle);
            layer
        })
        .clone();
    let variants: Vec<(&'static str, Router)> = vec![
        ("bare", base()),
        (
            "obs_metrics_only",
            base().layer(
                obs_axum::ObsLayer::from_metrics(metrics)
                    .unwrap()
                    .spans(false)
                    .request_id(false)
                    .trace_response_header(false),
            ),
        ),
        (
            CUSTOM_LABELS,
            base().layer(
                obs_axum::ObsLayer::from_metrics_with_labels(
                    // Its own registry: the shared one has the families without labels.
                    &obs_core::Metrics::new(),
                    [
                        obs_axum::CustomLabel::request_header("api_version", "x-api-version")
                            .values(["v1", "v2", "v3"]),
                        obs_axum::CustomLabel::response(
                            "plan",
                            |res: &obs_axum::ResponseHead<'_>| {
                                res.headers.get("x-plan").and_then(|v| v.to_str().ok())
                            },
                        )
                        .values(["free", "pro"]),
                    ],
                )
                .unwrap()
                .spans(false)
                .request_id(false)
                .trace_response_header(false),
            ),
        ),
        (
            "obs_metrics_and_span",
            base().layer(obs_axum::ObsLayer::from_metrics(metrics).unwrap()),
        ),
        (FULL_FROM_TELEMETRY, base().layer(full.clone())),
        (
            SAMPLED_10,
            base().layer(sampled_telemetry(SAMPLED_10).1.clone()),
        ),
        // Not a peer: what any layer keeping the metrics-only record pays (see `floor.rs`).
        (FLOOR, base().layer(floor::FloorLayer::new())),
        ("axum_prometheus", base().layer(prom_layer.clone())),
        ("tower_http_trace", base().layer(trace_layer())),
        (
            "axum_prometheus_and_trace",
            base().layer(prom_layer).layer(trace_layer()),
        ),
    ];
    variants
        .into_iter()
        .map(|(name, app)| (name, served(app)))
        .collect()
}

/// The router as `axum::serve` runs it: `Router::with_state` turns every handler and the layers
/// around it into a finished route once per connection, where a router used as it is built
/// does that again on every request (one boxed clone per layer), a cost no server pays.
fn served(app: Router) -> Router {
    app.with_state(())
}

/// obs telemetry without an exporter, installed globally: every variant pays the same
/// subscriber (JSON logs to a sink, the tracing-opentelemetry layer, filter `info`).
/// Returns its metrics and the full layer as a service builds it, `ObsLayer::new(&telemetry)`;
/// the guard lives as long as the process (there is nothing to flush).
fn telemetry() -> (obs_core::Metrics, obs_axum::ObsLayer) {
    static PARTS: std::sync::OnceLock<(obs_core::Metrics, obs_axum::ObsLayer)> =
        std::sync::OnceLock::new();
    PARTS
        .get_or_init(|| {
            let telemetry = obs_core::Telemetry::builder("bench")
                .log_filter("info")
                .log_format(obs_core::LogFormat::Json)
                .log_writer(std::io::sink)
                .init()
                .unwrap();
            let parts = (
                telemetry.metrics().clone(),
                obs_axum::ObsLayer::new(&telemetry),
            );
            std::mem::forget(telemetry);
            parts
        })
        .clone()
}

/// The full layer under a telemetry whose sampler drops every root request: only in the
/// `count` mode, where it gives what an unsampled request executes, deterministically.
const UNSAMPLED: &str = "obs_full_sampler_0pct";

/// The same telemetry as [`telemetry`] but for the sampler: `parentbased_traceidratio` at
/// 10% for [`SAMPLED_10`] (as `OTEL_TRACES_SAMPLER=parentbased_traceidratio
/// OTEL_TRACES_SAMPLER_ARG=0.1` sets it) or 0 for [`UNSAMPLED`], and the full layer over it.
/// Built, not installed: the variant's requests run with its dispatch as the thread's default
/// (a scoped dispatch costs each `tracing` call a thread-local lookup more than the global
/// one, which counts against the variant).
fn sampled_telemetry(variant: &str) -> &'static (tracing::Dispatch, obs_axum::ObsLayer) {
    type Parts = (tracing::Dispatch, obs_axum::ObsLayer);
    static TENTH: std::sync::OnceLock<Parts> = std::sync::OnceLock::new();
    static NONE: std::sync::OnceLock<Parts> = std::sync::OnceLock::new();
    let (slot, ratio) = if variant == UNSAMPLED {
        (&NONE, 0.0)
    } else {
        (&TENTH, 0.1)
    };
    slot.get_or_init(|| {
        let telemetry = obs_core::Telemetry::builder("bench")
            .log_filter("info")
            .log_format(obs_core::LogFormat::Json)
            .log_writer(std::io::sink)
            .sampler(obs_core::TraceSampler::ParentBasedTraceIdRatio(ratio))
            .build()
            .unwrap();
        let parts = (
            telemetry.dispatch().clone(),
            obs_axum::ObsLayer::new(&telemetry),
        );
        // Lives as long as the process; there is nothing to flush.
        std::mem::forget(telemetry);
        parts
    })
}

/// Runs `app` once, under the sampled dispatch for [`SAMPLED_10`] and [`UNSAMPLED`].
async fn drive_variant(name: &str, app: &Router) -> bool {
    if name == SAMPLED_10 || name == UNSAMPLED {
        let _scope = tracing::dispatcher::set_default(&sampled_telemetry(name).0);
        drive(app).await
    } else {
        drive(app).await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench_http(c: &mut Criterion) {
    let parts = telemetry();
    let rt = runtime();
    let variants = variants(&parts, &rt);
    let mut group = c.benchmark_group("http_request");
    for (name, app) in &variants {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter(|| drive_variant(name, app));
        });
    }
    group.finish();
}

/// Rounds measured; the first [`WARM_UP`] are discarded.
const ROUNDS: usize = 20_000;
const WARM_UP: usize = 1_000;
/// Rounds per block, for the spread of the ratios.
const BLOCK: usize = 1_000;
/// Requests per variant per round, timed together so the clock's own cost is amortised.
const BATCH: u32 = 8;

fn paired(c: &mut Criterion) {
    // Runs only when asked for by name (`-- paired`) or with no filter; criterion's own filter
    // does not reach a function that measures by hand.
    let wanted = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .all(|filter| "paired".contains(filter.as_str()));
    if !wanted {
        return;
    }
    let _ = c;
    let parts = telemetry();
    let rt = runtime();
    let variants = variants(&parts, &rt);
    let n = variants.len();
    // ns per request, per variant, per round; and per round, how many of the batch's requests
    // of each variant were sampled.
    let mut samples = vec![Vec::with_capacity(ROUNDS); n];
    let mut sampled = vec![Vec::with_capacity(ROUNDS); n];
    rt.block_on(async {
        for round in 0..ROUNDS + WARM_UP {
            for k in 0..n {
                let v = (round + k) % n;
                let (name, app) = &variants[v];
                // The scope is entered per batch, outside the timed loop's requests but inside
                // the timing, as a service would run under its dispatch.
                let _scope = (*name == SAMPLED_10)
                    .then(|| tracing::dispatcher::set_default(&sampled_telemetry(SAMPLED_10).0));
                let mut hits = 0u32;
                let started = std::time::Instant::now();
                for _ in 0..BATCH {
                    hits += u32::from(drive(app).await);
                }
                let ns = started.elapsed().as_nanos() as f64 / f64::from(BATCH);
                if round >= WARM_UP {
                    samples[v].push(ns);
                    sampled[v].push(hits);
                }
            }
        }
    });
    print!("{}", paired_report(&variants, &samples, &sampled));
}

/// The median and interquartile range of `values`.
fn quartiles(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

fn paired_report(
    variants: &[(&str, Router)],
    samples: &[Vec<f64>],
    sampled: &[Vec<u32>],
) -> String {
    use std::fmt::Write;
    let index = |name: &str| variants.iter().position(|(n, _)| *n == name).unwrap();
    let bare = &samples[index("bare")];
    // Per-round overhead of each variant over bare, in the same round.
    let overhead = |name: &str| -> Vec<f64> {
        samples[index(name)]
            .iter()
            .zip(bare)
            .map(|(v, b)| v - b)
            .collect()
    };
    let mut out = format!(
        "paired: {ROUNDS} rounds x {BATCH} requests per variant, order rotated every round\n\
         | variant | median ns/request | median overhead over bare (IQR) |\n|---|---:|---:|\n"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let (_, median, _) = quartiles(samples[i].clone());
        let (q1, d, q3) = quartiles(overhead(name));
        let _ = writeln!(
            out,
            "| {name} | {median:.0} | {d:+.0} ({q1:+.0} .. {q3:+.0}) |"
        );
    }
    // Ratios per round, so the spread shows how stable the comparison is.
    let ratio = |ours: &str, theirs: &str| -> (f64, f64, f64) {
        let (o, t) = (overhead(ours), overhead(theirs));
        let (_, o_median, _) = quartiles(o.clone());
        let (_, t_median, _) = quartiles(t.clone());
        // Rounds are noisy one by one; the ratio of medians is the estimate, and the spread is
        // that of ratios over blocks of [`BLOCK`] rounds.
        let blocks: Vec<f64> = o
            .chunks(BLOCK)
            .zip(t.chunks(BLOCK))
            .map(|(o, t)| quartiles(o.to_vec()).1 / quartiles(t.to_vec()).1)
            .collect();
        let (q1, _, q3) = quartiles(blocks);
        (o_median / t_median, q1, q3)
    };
    for (ours, theirs, target) in [
        ("obs_metrics_only", "axum_prometheus", 0.15),
        ("obs_metrics_and_span", "axum_prometheus_and_trace", 0.6),
        (FULL_FROM_TELEMETRY, "axum_prometheus_and_trace", 0.6),
    ] {
        let (r, q1, q3) = ratio(ours, theirs);
        let _ = writeln!(
            out,
            "{ours} adds {r:.3}x what {theirs} adds (blocks of {BLOCK} rounds: IQR {q1:.3} .. {q3:.3}; target <= {target})"
        );
    }
    // The floor under the metrics-only target, and how far above it obs is.
    let (r, q1, q3) = ratio(FLOOR, "axum_prometheus");
    let above: Vec<f64> = overhead("obs_metrics_only")
        .iter()
        .zip(overhead(FLOOR))
        .map(|(o, f)| o - f)
        .collect();
    let (a1, above, a3) = quartiles(above);
    let _ = writeln!(
        out,
        "{FLOOR} adds {r:.3}x what axum_prometheus adds (IQR {q1:.3} .. {q3:.3}); \
         obs_metrics_only {above:+.0} ns over it in the same rounds (IQR {a1:+.0} .. {a3:+.0})"
    );
    // Two custom labels against metrics only in the same rounds.
    let extra: Vec<f64> = overhead(CUSTOM_LABELS)
        .iter()
        .zip(overhead("obs_metrics_only"))
        .map(|(c, m)| c - m)
        .collect();
    let (q1, median, q3) = quartiles(extra);
    let _ = writeln!(
        out,
        "{CUSTOM_LABELS}: {median:+.0} ns over obs_metrics_only in the same rounds (IQR {q1:+.0} .. {q3:+.0})"
    );
    // The 10% sampler: rounds whose whole batch went unsampled against metrics only in the same
    // rounds. What is left over is what an unsampled request pays beyond the metrics.
    let s = index(SAMPLED_10);
    let (full, metrics_only) = (overhead(SAMPLED_10), overhead("obs_metrics_only"));
    let unsampled: Vec<(f64, f64)> = full
        .iter()
        .zip(&metrics_only)
        .zip(&sampled[s])
        .filter(|(_, hits)| **hits == 0)
        .map(|((f, m), _)| (*f, *m))
        .collect();
    let total: u32 = sampled[s].iter().sum();
    let share = f64::from(total) / (sampled[s].len() as f64 * f64::from(BATCH));
    let extra: Vec<f64> = unsampled.iter().map(|(f, m)| f - m).collect();
    let (_, extra_median, _) = quartiles(extra.clone());
    let block_medians: Vec<f64> = extra
        .chunks(BLOCK / 2)
        .map(|c| quartiles(c.to_vec()).1)
        .collect();
    let (q1, _, q3) = quartiles(block_medians);
    let (_, unsampled_median, _) = quartiles(unsampled.iter().map(|(f, _)| *f).collect());
    let _ = writeln!(
        out,
        "{SAMPLED_10}: {:.1}% of requests sampled; in the {} rounds with none sampled, \
         overhead {unsampled_median:+.0} ns: {extra_median:+.0} ns over metrics only \
         in the same rounds (blocks of {} such rounds: IQR {q1:+.0} .. {q3:+.0})",
        share * 100.0,
        unsampled.len(),
        BLOCK / 2,
    );
    out
}

criterion_group!(benches, bench_http, paired);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "count") {
        let (Some(variant), Some(n)) = (args.get(at + 1), args.get(at + 2)) else {
            panic!("usage: count <variant> <requests>");
        };
        count(variant, n.parse().unwrap());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// Runs `n` requests of `variant` and nothing else.
fn count(variant: &str, n: u32) {
    let parts = telemetry();
    let rt = runtime();
    let mut variants = variants(&parts, &rt);
    // Built only when asked for: every variant would otherwise count in a process with one
    // more dispatch and a heap laid out differently.
    if variant == UNSAMPLED {
        variants.push((
            UNSAMPLED,
            served(base().layer(sampled_telemetry(UNSAMPLED).1.clone())),
        ));
    }
    let (name, app) = variants
        .iter()
        .find(|(name, _)| *name == variant)
        .unwrap_or_else(|| panic!("no variant {variant}"));
    let sampled = rt.block_on(async {
        let mut sampled = 0u32;
        for _ in 0..n {
            sampled += u32::from(drive_variant(name, app).await);
        }
        sampled
    });
    println!("{variant}: {n} requests, {sampled} sampled");
}
