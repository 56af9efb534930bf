//! What exemplars cost an observation: a plain `prometheus` histogram, an exemplar histogram
//! given no sampled span (the unsampled path), and one given a sampled span (the exemplar is
//! written); and what finding out whether a `tracing` span is sampled costs
//! (`SampledSpan::of`, paid per database operation; the HTTP layer reuses the lookup it makes
//! for `traceresponse`).
//!
//! `cargo bench -p obs-benches --bench exemplars`; the paired run prints medians per
//! observation, alternating the variants in batches so drift hits them alike.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use obs_core::opentelemetry::trace::{
    SpanContext, SpanId, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use obs_core::opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use obs_core::tracing_subscriber::layer::SubscriberExt;
use obs_core::{DbOperationLabels, ExemplarHistogram, Metrics, SampledSpan};

fn series(metrics: &Metrics) -> ExemplarHistogram {
    metrics
        .db_client()
        .unwrap()
        .operation_duration(DbOperationLabels {
            system: "postgresql",
            operation: "SELECT",
            collection: "todos",
            error_type: "",
        })
}

fn sampled() -> Option<SampledSpan> {
    SampledSpan::from_span_context(&SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    ))
}

/// Values spread over the buckets, as real latencies are.
const VALUES: [f64; 8] = [0.0004, 0.002, 0.003, 0.007, 0.012, 0.04, 0.3, 2.0];

fn observe(c: &mut Criterion) {
    let metrics = Metrics::new();
    let histogram = series(&metrics);
    let plain = histogram.histogram().clone();
    let span = sampled();
    let mut group = c.benchmark_group("observe");
    let mut i = 0;
    group.bench_function("prometheus", |b| {
        b.iter(|| {
            i += 1;
            plain.observe(black_box(VALUES[i % 8]));
        })
    });
    group.bench_function("unsampled", |b| {
        b.iter(|| {
            i += 1;
            histogram.observe_with_exemplar(black_box(VALUES[i % 8]), black_box(None));
        })
    });
    group.bench_function("sampled", |b| {
        b.iter(|| {
            i += 1;
            histogram.observe_with_exemplar(black_box(VALUES[i % 8]), black_box(span));
        })
    });
    group.finish();
}

fn dispatch(sampler: Sampler) -> tracing::Dispatch {
    let provider = SdkTracerProvider::builder().with_sampler(sampler).build();
    let layer = obs_core::tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    tracing::Dispatch::new(obs_core::tracing_subscriber::registry().with(layer))
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("sampled_span_of");
    for (name, sampler) in [
        ("sampled", Sampler::AlwaysOn),
        ("unsampled", Sampler::AlwaysOff),
    ] {
        tracing::dispatcher::with_default(&dispatch(sampler), || {
            let span = tracing::info_span!("db.query");
            let expected = name == "sampled";
            assert_eq!(SampledSpan::of(&span).is_some(), expected);
            group.bench_function(name, |b| b.iter(|| SampledSpan::of(black_box(&span))));
        });
    }
    group.bench_function("disabled", |b| {
        let span = tracing::Span::none();
        b.iter(|| SampledSpan::of(black_box(&span)))
    });
    group.finish();
}

/// The three observation variants alternated in batches, reported as medians per observation.
fn paired(c: &mut Criterion) {
    let _ = c;
    const BATCH: usize = 256;
    const ROUNDS: usize = 4000;
    let metrics = Metrics::new();
    let histogram = series(&metrics);
    let plain = histogram.histogram().clone();
    let span = sampled();
    let time = |f: &dyn Fn(f64)| {
        let start = Instant::now();
        for k in 0..BATCH {
            f(black_box(VALUES[k % 8]));
        }
        start.elapsed().as_nanos() as f64 / BATCH as f64
    };
    let (mut base, mut unsampled, mut with) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base.push(time(&|v| plain.observe(v)));
        unsampled.push(time(&|v| {
            histogram.observe_with_exemplar(v, black_box(None))
        }));
        with.push(time(&|v| {
            histogram.observe_with_exemplar(v, black_box(span))
        }));
    }
    fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 4], v[v.len() / 2], v[3 * v.len() / 4])
    }
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>();
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>();
    let (b25, b50, b75) = quartiles(base.clone());
    eprintln!("paired prometheus observe: median {b50:.1} ns (IQR {b25:.1}..{b75:.1})");
    for (name, v) in [("unsampled", &unsampled), ("sampled", &with)] {
        let (d25, d50, d75) = quartiles(diff(v, &base));
        let (r25, r50, r75) = quartiles(ratio(v, &base));
        eprintln!(
            "paired {name} vs prometheus: {d50:+.1} ns per observation (IQR {d25:+.1}..{d75:+.1}), ratio {r50:.2} (IQR {r25:.2}..{r75:.2})"
        );
    }
}

criterion_group!(benches, observe, lookup, paired);
criterion_main!(benches);
