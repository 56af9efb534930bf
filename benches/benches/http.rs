//! Per-request overhead of HTTP instrumentation, obs against its peers, measured side by side.
//!
//! One router with a trivial handler, driven in-process with `oneshot` on a current-thread
//! runtime. Every variant runs under the same global subscriber (obs telemetry without an
//! exporter, filter `info`), so span costs are comparable.
//!
//! `cargo bench -p obs-benches --bench http`

#![allow(missing_docs, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
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

async fn drive(app: &Router) {
    let request = axum::http::Request::get("/todos/42")
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap();
    std::hint::black_box(body);
}

fn trace_layer()
-> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>>
{
    // Spans at INFO like ours, so they are enabled under the same filter.
    TraceLayer::new_for_http().make_span_with(DefaultMakeSpan::new().level(Level::INFO))
}

fn bench_http(c: &mut Criterion) {
    let telemetry = obs_core::Telemetry::builder("bench")
        .log_filter("info")
        .log_writer(std::io::sink)
        .init()
        .unwrap();
    let metrics = telemetry.metrics().clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // axum-prometheus spawns its upkeep task while creating the recorder.
    let (prom_layer, _prom_handle) = {
        let _entered = rt.enter();
        axum_prometheus::PrometheusMetricLayer::pair()
    };

    let variants: Vec<(&str, Router)> = vec![
        ("bare", base()),
        (
            "obs_metrics_only",
            base().layer(
                obs_axum::ObsLayer::from_metrics(&metrics)
                    .unwrap()
                    .spans(false)
                    .request_id(false)
                    .trace_response_header(false),
            ),
        ),
        (
            "obs_metrics_and_span",
            base().layer(obs_axum::ObsLayer::from_metrics(&metrics).unwrap()),
        ),
        ("axum_prometheus", base().layer(prom_layer.clone())),
        ("tower_http_trace", base().layer(trace_layer())),
        (
            "axum_prometheus_and_trace",
            base().layer(prom_layer).layer(trace_layer()),
        ),
    ];

    let mut group = c.benchmark_group("http_request");
    for (name, app) in &variants {
        group.bench_function(*name, |b| b.to_async(&rt).iter(|| drive(app)));
    }
    group.finish();
    drop(telemetry);
}

criterion_group!(benches, bench_http);
criterion_main!(benches);
