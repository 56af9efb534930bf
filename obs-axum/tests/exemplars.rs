//! `/metrics` answers a scraper that asks for OpenMetrics with exemplars on the duration
//! buckets: the trace and span of a sampled request, exported to the collector; unsampled
//! requests leave none. Everyone else gets the text format as before.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::{Telemetry, TraceSampler};
use obs_testkit::{Exposition, OtlpCollector};

const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNSAMPLED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn app(telemetry: &Telemetry) -> Router {
    Router::new()
        .route("/sampled", get(|| async { "yes" }))
        .route("/unsampled", get(|| async { "no" }))
        .layer(ObsLayer::new(telemetry))
        .merge(obs_axum::metrics_router(telemetry))
}

async fn traced(app: &Router, telemetry: &Telemetry, path: &str, traceparent: String) -> String {
    let request = http::Request::get(path)
        .header("traceparent", traceparent)
        .body(Body::empty())
        .unwrap();
    let headers = common::send_traced(app, telemetry.dispatch(), request).await;
    headers["traceresponse"].to_str().unwrap().to_owned()
}

async fn scrape(app: &Router, accept: Option<&str>, gzip: bool) -> (http::HeaderMap, String) {
    let mut request = http::Request::get("/metrics");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = tower::ServiceExt::oneshot(app.clone(), request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = if gzip {
        assert_eq!(headers["content-encoding"], "gzip");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    (headers, text)
}

fn route_buckets<'a>(
    exposition: &'a Exposition,
    route: &'a str,
) -> impl Iterator<Item = &'a obs_testkit::Sample> + 'a {
    exposition
        .series("http_server_request_duration_seconds_bucket")
        .filter(move |s| s.label("http_route") == Some(route))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_requests_are_exemplars_of_their_duration_bucket() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    // Parent-based with ratio 0 for roots: the caller's sampled flag decides.
    let telemetry = Telemetry::builder("exemplars")
        .otlp_endpoint(collector.endpoint())
        .sampler(TraceSampler::ParentBasedTraceIdRatio(0.0))
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);
    let sampled = traced(
        &app,
        &telemetry,
        "/sampled",
        format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01"),
    )
    .await;
    let unsampled = traced(
        &app,
        &telemetry,
        "/unsampled",
        format!("00-{UNSAMPLED_TRACE}-b7ad6b7169203331-00"),
    )
    .await;
    assert!(sampled.ends_with("-01") && unsampled.ends_with("-00"));
    let server_span = &sampled[36..52];

    let (headers, text) = scrape(&app, Some(PROMETHEUS_ACCEPT), false).await;
    assert_eq!(
        headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(headers["vary"], "accept, accept-encoding");
    let exposition = Exposition::parse_openmetrics(&text).unwrap();
    let with_exemplar: Vec<_> = route_buckets(&exposition, "/sampled")
        .filter_map(|s| Some((s, s.exemplar.as_ref()?)))
        .collect();
    // One request, one exemplar: on the first bucket that counts it.
    assert_eq!(with_exemplar.len(), 1, "{text}");
    let (bucket, exemplar) = with_exemplar[0];
    let first_counting = route_buckets(&exposition, "/sampled")
        .find(|s| s.value == 1.0)
        .unwrap();
    assert_eq!(bucket, first_counting);
    assert_eq!(exemplar.label("trace_id"), Some(CALLER_TRACE));
    assert_eq!(exemplar.label("span_id"), Some(server_span));
    assert_eq!(exemplar.labels.len(), 2);
    let le: f64 = bucket.label("le").unwrap().parse().unwrap();
    assert!(exemplar.value > 0.0 && exemplar.value <= le, "{exemplar:?}");
    assert!(exemplar.timestamp.unwrap() > 1.6e9);
    // The unsampled request is counted, without exemplar.
    assert!(route_buckets(&exposition, "/unsampled").any(|s| s.value == 1.0));
    assert!(route_buckets(&exposition, "/unsampled").all(|s| s.exemplar.is_none()));
    assert!(!text.contains(UNSAMPLED_TRACE));

    // Gzip works in OpenMetrics too.
    let (_, unzipped) = scrape(&app, Some(PROMETHEUS_ACCEPT), true).await;
    assert!(unzipped.ends_with("# EOF\n"));
    assert!(unzipped.contains(&format!("trace_id=\"{CALLER_TRACE}\"")));

    // The exemplar leads to a span the collector received.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(1, Duration::from_secs(10)).await;
    assert!(
        spans
            .iter()
            .any(|s| s.trace_id() == CALLER_TRACE && s.span_id() == server_span),
        "{spans:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_scrapers_get_the_text_format_unchanged() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("exemplars-text")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = app(&telemetry);
    traced(
        &app,
        &telemetry,
        "/sampled",
        format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01"),
    )
    .await;
    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (headers, text) = scrape(&app, accept, false).await;
        assert_eq!(
            headers["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert!(!text.contains(" # {") && !text.contains("# EOF"), "{text}");
        // Byte for byte what the text encoder writes (less the process gauges, which move).
        let steady = |t: &str| -> String {
            t.lines()
                .filter(|l| !l.contains("process_"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(
            steady(&text),
            steady(&telemetry.metrics().encode().unwrap())
        );
        Exposition::parse(&text).unwrap();
    }
    // The same series either way: only exemplars, comments and `# EOF` differ.
    let (_, text) = scrape(&app, None, false).await;
    let (_, openmetrics) = scrape(&app, Some(PROMETHEUS_ACCEPT), false).await;
    let text = Exposition::parse(&text).unwrap();
    let openmetrics = Exposition::parse_openmetrics(&openmetrics).unwrap();
    let strip = |e: &Exposition| -> std::collections::BTreeSet<(String, Vec<(String, String)>)> {
        e.samples()
            .iter()
            .filter(|s| !s.name.starts_with("process_"))
            .map(|s| (s.name.clone(), s.labels.clone().into_iter().collect()))
            .collect()
    };
    assert_eq!(strip(&text), strip(&openmetrics));
    assert_eq!(text.samples().len(), openmetrics.samples().len());
}
