//! Custom labels: declared values from a header, a request extension and a response extension
//! land on the duration and body-size series and the server span; anything else is `other`,
//! nothing is empty, hostile input adds no series, and every limit is a construction error.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Extension, Router};
use obs_axum::{CustomLabel, CustomLabelError, ObsLayer, ResponseHead, RouteRequest};
use obs_core::names::{
    CUSTOM_LABEL_OTHER, MAX_CUSTOM_LABEL_COMBINATIONS, MAX_CUSTOM_LABEL_VALUE_LEN,
    MAX_CUSTOM_LABEL_VALUES, MAX_CUSTOM_LABELS,
};
use obs_core::{Metrics, Telemetry, TraceSampler};
use obs_testkit::{Exposition, OtlpCollector};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

#[derive(Clone)]
struct Tenant(String);

#[derive(Clone)]
struct Plan(&'static str);

fn labels() -> [CustomLabel; 3] {
    [
        CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
        CustomLabel::request("tenant", |req: &RouteRequest<'_>| {
            req.extensions.get::<Tenant>().map(|t| t.0.as_str())
        })
        .values(["acme", "globex"]),
        CustomLabel::response("plan", |res: &ResponseHead<'_>| {
            res.extensions.get::<Plan>().map(|p| p.0)
        })
        .values(["free", "pro"]),
    ]
}

fn routes() -> Router {
    Router::new()
        .route(
            "/report",
            get(|| async { (Extension(Plan("pro")), "report") }),
        )
        .route(
            "/odd",
            get(|| async { (Extension(Plan("enterprise")), "odd") }),
        )
        .route(
            "/upload",
            post(|body: String| async move { body.len().to_string() }),
        )
}

async fn send(app: &Router, request: http::Request<Body>) {
    let response = tower::ServiceExt::oneshot(app.clone(), request)
        .await
        .unwrap();
    http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap();
}

fn request(path: &str, version: Option<&str>, tenant: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::get(path);
    if let Some(version) = version {
        builder = builder.header("x-api-version", version);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    if let Some(tenant) = tenant {
        request.extensions_mut().insert(Tenant(tenant.to_owned()));
    }
    request
}

#[tokio::test]
async fn declared_values_become_label_values_and_others_fold() {
    let metrics = Metrics::new();
    // `known_methods` rebuilds the instruments: the labels must survive it.
    let layer = ObsLayer::from_metrics_with_labels(&metrics, labels())
        .unwrap()
        .known_methods(["GET", "POST"]);
    let app = routes().layer(layer);
    send(&app, request("/report", Some("v1"), Some("acme"))).await;
    send(&app, request("/report", Some("v1"), Some("acme"))).await;
    send(&app, request("/report", Some("v3"), Some("initech"))).await;
    send(&app, request("/report", None, None)).await;
    send(&app, request("/odd", Some("v2"), Some("globex"))).await;
    let upload = http::Request::post("/upload")
        .header("x-api-version", "v2")
        .body(Body::from("12345"))
        .unwrap();
    send(&app, upload).await;

    let text = metrics.encode().unwrap();
    let exposition = Exposition::parse(&text).unwrap();
    let duration = |route: &str, version: &str, tenant: &str, plan: &str| {
        exposition.value(
            DURATION_COUNT,
            &[
                (
                    "http_request_method",
                    if route == "/upload" { "POST" } else { "GET" },
                ),
                ("http_route", route),
                ("http_response_status_code", "200"),
                ("error_type", ""),
                ("api_version", version),
                ("tenant", tenant),
                ("plan", plan),
            ],
        )
    };
    assert_eq!(
        duration("/report", "v1", "acme", "pro"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        duration("/report", "other", "other", "pro"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(duration("/report", "", "", "pro"), Some(1.0), "{text}");
    assert_eq!(
        duration("/odd", "v2", "globex", "other"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(duration("/upload", "v2", "", ""), Some(1.0), "{text}");
    // The body sizes carry them too; the active-requests gauge does not.
    assert_eq!(
        exposition.value(
            "http_server_request_body_size_bytes_sum",
            &[
                ("http_request_method", "POST"),
                ("http_route", "/upload"),
                ("http_response_status_code", "200"),
                ("api_version", "v2"),
                ("tenant", ""),
                ("plan", ""),
            ],
        ),
        Some(5.0),
        "{text}"
    );
    assert!(
        exposition
            .series("http_server_response_body_size_bytes_count")
            .all(|s| s.label("plan").is_some())
    );
    assert!(
        exposition
            .series("http_server_active_requests")
            .all(|s| s.labels.len() == 1)
    );
    // Nothing a request sent that was not declared reached the exposition.
    assert!(!text.contains("v3") && !text.contains("initech") && !text.contains("enterprise"));
    if let Err(complaints) = obs_testkit::promtool_check_metrics(&text).await {
        panic!("promtool check metrics:\n{complaints}\n{text}");
    }
}

/// Header values a client controls, of every shape a `HeaderValue` allows: long, bytes
/// outside ASCII, tabs and DEL, empty, and near misses of the declared values.
fn hostile_values() -> Vec<http::HeaderValue> {
    let shapes = proptest::prop_oneof![
        proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        proptest::collection::vec(proptest::num::u8::ANY, 1000..9000),
        proptest::string::string_regex("v[0-9]{0,3}|V1|v1 |acme|other|\t|")
            .unwrap()
            .prop_map(String::into_bytes),
    ];
    let values = proptest::collection::vec(shapes, 10_000);
    // A fixed seed: the same 10 000 values on every run.
    let mut runner = TestRunner::deterministic();
    values
        .new_tree(&mut runner)
        .unwrap()
        .current()
        .into_iter()
        .map(|mut bytes| {
            // Keep what a header may hold: no control characters but tab and DEL.
            bytes.retain(|b| *b == b'\t' || *b >= 0x20);
            http::HeaderValue::from_bytes(&bytes).unwrap_or(http::HeaderValue::from_static(""))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_add_no_series_beyond_declared_other_and_empty() {
    let metrics = Metrics::new();
    let layer = ObsLayer::from_metrics_with_labels(
        &metrics,
        [
            CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
            // The request closure passes any string it finds through: still bounded.
            CustomLabel::request("echo", |req: &RouteRequest<'_>| {
                req.headers
                    .get("x-api-version")
                    .and_then(|v| v.to_str().ok())
            })
            .values(["v1"]),
        ],
    )
    .unwrap();
    let app = routes().layer(layer);
    let values = hostile_values();
    assert_eq!(values.len(), 10_000);
    assert!(values.iter().any(|v| v.len() > 1000) && values.iter().any(|v| v.to_str().is_err()));
    for value in values {
        let mut request = request("/report", None, None);
        request.headers_mut().insert("x-api-version", value);
        send(&app, request).await;
    }
    send(&app, request("/report", Some("v1"), None)).await;
    let text = metrics.encode().unwrap();
    let exposition = Exposition::parse(&text).unwrap();
    let series: Vec<_> = exposition.series(DURATION_COUNT).collect();
    // (2 declared + other + empty) × (1 declared + other + empty), at most.
    assert!(series.len() <= 4 * 3, "{} series:\n{text}", series.len());
    for s in &series {
        assert!(["v1", "v2", CUSTOM_LABEL_OTHER, ""].contains(&s.label("api_version").unwrap()));
        assert!(["v1", CUSTOM_LABEL_OTHER, ""].contains(&s.label("echo").unwrap()));
    }
    assert_eq!(exposition.sum(DURATION_COUNT), 10_001.0);
    let v1 = [("api_version", "v1"), ("echo", "v1")];
    assert!(exposition.value_matching(DURATION_COUNT, &v1).unwrap() >= 1.0);
    let other = [
        ("api_version", CUSTOM_LABEL_OTHER),
        ("echo", CUSTOM_LABEL_OTHER),
    ];
    assert!(exposition.value_matching(DURATION_COUNT, &other).unwrap() > 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_and_span_attributes_follow_the_custom_values() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    // Parent-based with ratio 0 for roots: the caller's sampled flag decides.
    let telemetry = Telemetry::builder("custom-labels")
        .otlp_endpoint(collector.endpoint())
        .sampler(TraceSampler::ParentBasedTraceIdRatio(0.0))
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    // Built before the metrics router, which records into the same families.
    let layer = ObsLayer::with_labels(&telemetry, labels()).unwrap();
    let app = routes()
        .layer(layer)
        .merge(obs_axum::metrics_router(&telemetry));
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut sampled = request("/report", Some("v2"), Some("acme"));
    sampled.headers_mut().insert(
        "traceparent",
        format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap(),
    );
    let headers = common::send_traced(&app, telemetry.dispatch(), sampled).await;
    let server_span = headers["traceresponse"].to_str().unwrap()[36..52].to_owned();
    let mut unsampled = request("/report", Some("v1"), Some("hostile-tenant"));
    unsampled.headers_mut().insert(
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            .parse()
            .unwrap(),
    );
    common::send_traced(&app, telemetry.dispatch(), unsampled).await;

    let scrape = http::Request::get("/metrics")
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), scrape)
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    let exposition = Exposition::parse_openmetrics(&text).unwrap();
    let buckets = |version: &'static str| {
        exposition
            .series("http_server_request_duration_seconds_bucket")
            .filter(move |s| {
                s.label("http_route") == Some("/report") && s.label("api_version") == Some(version)
            })
    };
    let exemplars: Vec<_> = buckets("v2").filter_map(|s| s.exemplar.as_ref()).collect();
    assert_eq!(exemplars.len(), 1, "{text}");
    assert_eq!(exemplars[0].label("trace_id"), Some(trace));
    assert_eq!(exemplars[0].label("span_id"), Some(server_span.as_str()));
    let v2 = buckets("v2").next().unwrap();
    assert_eq!(
        (v2.label("tenant"), v2.label("plan")),
        (Some("acme"), Some("pro"))
    );
    // The other request's exemplar sits on its own series, with its own values.
    let v1: Vec<_> = buckets("v1").collect();
    assert!(
        v1.iter()
            .all(|s| s.label("tenant") == Some(CUSTOM_LABEL_OTHER))
    );
    assert!(v1.iter().any(|s| s.exemplar.is_some()));
    assert!(
        v1.iter()
            .filter_map(|s| s.exemplar.as_ref())
            .all(|e| e.label("trace_id") != Some(trace))
    );

    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(2, Duration::from_secs(10)).await;
    let span = spans.iter().find(|s| s.span_id() == server_span).unwrap();
    assert_eq!(span.attr("api_version").as_deref(), Some("v2"));
    assert_eq!(span.attr("tenant").as_deref(), Some("acme"));
    assert_eq!(span.attr("plan").as_deref(), Some("pro"));
    let other = spans
        .iter()
        .find(|s| s.trace_id() == "0af7651916cd43dd8448eb211c80319c" && s.name() == "GET /report")
        .unwrap();
    // Bounded like the metric: the span never carries the value the request sent.
    assert_eq!(other.attr("tenant").as_deref(), Some(CUSTOM_LABEL_OTHER));
    assert_eq!(other.attr("api_version").as_deref(), Some("v1"));
}

fn error(labels: impl IntoIterator<Item = CustomLabel>) -> CustomLabelError {
    ObsLayer::from_metrics_with_labels(&Metrics::new(), labels).unwrap_err()
}

fn header(name: &str) -> CustomLabel {
    CustomLabel::request_header(name, "x-h").values(["a"])
}

#[test]
fn every_limit_is_a_construction_error() {
    let many: Vec<_> = (0..=MAX_CUSTOM_LABELS)
        .map(|i| header(&format!("l{i}")))
        .collect();
    assert!(
        matches!(error(many), CustomLabelError::TooManyLabels { count } if count == MAX_CUSTOM_LABELS + 1)
    );
    for bad in ["", "2x", "api-version", "tenant id", "é"] {
        assert!(
            matches!(error([header(bad)]), CustomLabelError::InvalidName { ref name } if name == bad),
            "{bad}"
        );
    }
    for reserved in [
        "http_route",
        "http_request_method",
        "http_response_status_code",
        "error_type",
        "le",
        "__tenant",
    ] {
        let e = error([header(reserved)]);
        assert!(
            matches!(e, CustomLabelError::ReservedName { ref name } if name == reserved),
            "{e}"
        );
        assert!(e.to_string().contains(reserved));
    }
    assert!(
        matches!(error([header("t"), header("t")]), CustomLabelError::DuplicateName { ref name } if name == "t")
    );
    let e = error([CustomLabel::request_header("t", "bad header").values(["a"])]);
    assert!(
        matches!(e, CustomLabelError::InvalidHeader { ref name, ref header } if name == "t" && header == "bad header"),
        "{e}"
    );
    assert!(
        matches!(error([CustomLabel::request_header("t", "x-h")]), CustomLabelError::NoValues { ref name } if name == "t")
    );
    let e = error([CustomLabel::request_header("t", "x-h")
        .values((0..=MAX_CUSTOM_LABEL_VALUES).map(|i| format!("v{i}")))]);
    assert!(
        matches!(e, CustomLabelError::TooManyValues { count, .. } if count == MAX_CUSTOM_LABEL_VALUES + 1),
        "{e}"
    );
    let e = error([CustomLabel::request_header("t", "x-h").values(["a", ""])]);
    assert!(
        matches!(e, CustomLabelError::EmptyValue { ref name } if name == "t"),
        "{e}"
    );
    let long = "x".repeat(MAX_CUSTOM_LABEL_VALUE_LEN + 1);
    let e = error([CustomLabel::request_header("t", "x-h").values([long.clone()])]);
    assert!(
        matches!(e, CustomLabelError::ValueTooLong { ref value, .. } if *value == long),
        "{e}"
    );
    let e = error([CustomLabel::request_header("t", "x-h").values(["a", CUSTOM_LABEL_OTHER])]);
    assert!(
        matches!(e, CustomLabelError::ReservedValue { ref name } if name == "t"),
        "{e}"
    );
    let e = error([CustomLabel::request_header("t", "x-h").values(["a", "b", "a"])]);
    assert!(
        matches!(e, CustomLabelError::DuplicateValue { ref value, .. } if value == "a"),
        "{e}"
    );
    // 16 × 16 = 256 combinations fit; one more value does not.
    let sixteen = |name: &str, n: usize| {
        CustomLabel::request_header(name, "x-h").values((0..n).map(|i| format!("v{i}")))
    };
    assert_eq!(16 * 16, MAX_CUSTOM_LABEL_COMBINATIONS);
    assert!(
        ObsLayer::from_metrics_with_labels(&Metrics::new(), [sixteen("a", 14), sixteen("b", 14)])
            .is_ok()
    );
    let e = error([sixteen("a", 14), sixteen("b", 15)]);
    assert!(
        matches!(
            e,
            CustomLabelError::TooManyCombinations { combinations: 272 }
        ),
        "{e}"
    );
    // The most values one label may declare are within the combinations.
    assert!(
        ObsLayer::from_metrics_with_labels(
            &Metrics::new(),
            [sixteen("a", MAX_CUSTOM_LABEL_VALUES)]
        )
        .is_ok()
    );
}

#[test]
fn the_labelled_layer_comes_first_on_its_registry() {
    // Registered without custom labels first: a labelled layer is refused, naming the fix.
    let metrics = Metrics::new();
    drop(ObsLayer::from_metrics(&metrics).unwrap());
    let e = ObsLayer::from_metrics_with_labels(&metrics, [header("t")]).unwrap_err();
    assert!(
        matches!(
            e,
            CustomLabelError::Registry(obs_core::Error::HttpLabelsRegistered { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("before any other HTTP layer"), "{e}");

    // Labelled first: the same labels again are fine, other labels are refused, and a plain
    // layer records into the labelled families with the custom labels empty.
    let metrics = Metrics::new();
    drop(ObsLayer::from_metrics_with_labels(&metrics, [header("t")]).unwrap());
    drop(ObsLayer::from_metrics_with_labels(&metrics, [header("t")]).unwrap());
    assert!(ObsLayer::from_metrics_with_labels(&metrics, [header("u")]).is_err());
    drop(ObsLayer::from_metrics(&metrics).unwrap());
    // No labels at all is the plain layer.
    drop(ObsLayer::from_metrics_with_labels(&metrics, []).unwrap());
}

#[tokio::test]
async fn a_plain_layer_after_a_labelled_one_records_them_empty() {
    let metrics = Metrics::new();
    let labelled = ObsLayer::from_metrics_with_labels(&metrics, [header("t")]).unwrap();
    let plain = ObsLayer::from_metrics(&metrics).unwrap();
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .layer(labelled)
        .merge(
            Router::new()
                .route("/b", get(|| async { "b" }))
                .layer(plain),
        );
    let mut a = request("/a", None, None);
    a.headers_mut().insert("x-h", "a".parse().unwrap());
    send(&app, a).await;
    let mut b = request("/b", None, None);
    b.headers_mut().insert("x-h", "a".parse().unwrap());
    send(&app, b).await;
    let exposition = Exposition::parse(&metrics.encode().unwrap()).unwrap();
    assert_eq!(
        exposition.value_matching(DURATION_COUNT, &[("http_route", "/a"), ("t", "a")]),
        Some(1.0)
    );
    assert_eq!(
        exposition.value_matching(DURATION_COUNT, &[("http_route", "/b"), ("t", "")]),
        Some(1.0)
    );
}

/// The README's example is `examples/custom_labels.rs`, which CI compiles.
#[test]
fn the_readme_example_is_the_compiled_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/custom_labels.rs");
    let start = readme.find("## Custom labels").unwrap();
    let block = &readme[start..];
    let code_start = block.find("```rust,no_run\n").unwrap() + "```rust,no_run\n".len();
    let code = &block[code_start..];
    let code = &code[..code.find("```\n").unwrap()];
    assert!(
        example.ends_with(code),
        "README and examples/custom_labels.rs differ"
    );
}

/// A request that ends without a response (here, cancelled) keeps the values read from the
/// request; those of the response are empty.
#[tokio::test]
async fn a_request_without_response_keeps_its_request_values() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route("/slow", get(std::future::pending::<&'static str>))
        .layer(ObsLayer::from_metrics_with_labels(&metrics, labels()).unwrap());
    let call = tower::ServiceExt::oneshot(app, request("/slow", Some("v1"), Some("globex")));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    let exposition = Exposition::parse(&metrics.encode().unwrap()).unwrap();
    let cancelled = [
        ("http_route", "/slow"),
        ("error_type", "cancelled"),
        ("api_version", "v1"),
        ("tenant", "globex"),
        ("plan", ""),
    ];
    assert_eq!(
        exposition.value_matching(DURATION_COUNT, &cancelled),
        Some(1.0)
    );
}
