//! Under obs's own subscriber the server span's fields reach log lines from values kept with the
//! span, written only when a line is written inside it (`open_with_log_fields`). The `span`
//! object of such a line must be exactly what formatting the span's own fields gives, which a
//! layer built with `ObsLayer::from_metrics` (no head sampler) still does.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use obs_axum::{ObsLayer, TrustedProxies};
use obs_core::{LogFormat, Telemetry};
use obs_testkit::LogCapture;
use serde_json::Value;

fn app(layer: ObsLayer) -> Router {
    Router::new()
        .route(
            "/todos/{id}",
            get(|| async {
                tracing::info!("inside");
                "ok"
            }),
        )
        .route(
            "/fail",
            get(|| async {
                tracing::warn!("failing");
                (http::StatusCode::INTERNAL_SERVER_ERROR, "no")
            }),
        )
        .layer(layer)
}

/// A request: its path, its headers, and the TCP peer it came from.
type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<[u8; 4]>);

/// Requests whose values reach the span: odd characters, a path over the limit, a forwarded
/// client and scheme from a trusted proxy, a replaced request id, a server error.
fn requests() -> Vec<http::Request<Body>> {
    let long_path = format!("/todos/{}", "p".repeat(3000));
    let long_agent = "u".repeat(1000);
    let cases: [Case<'_>; 7] = [
        ("/todos/1", &[("x-request-id", "req-1")], None),
        (
            "/todos/2?q=1",
            &[
                ("x-request-id", "req-2"),
                ("user-agent", "evil \"agent\" \\ with\ttab"),
            ],
            Some([198, 51, 100, 7]),
        ),
        (
            &long_path,
            &[("x-request-id", "req-3"), ("user-agent", &long_agent)],
            None,
        ),
        (
            "/todos/4",
            &[
                ("x-request-id", "req-4"),
                ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
                ("x-forwarded-proto", "https"),
            ],
            Some([10, 0, 0, 2]),
        ),
        ("/todos/5", &[("x-request-id", "{\"forged\":1}")], None),
        ("/fail", &[("x-request-id", "req-6")], None),
        ("/no/such/route", &[("x-request-id", "req-7")], None),
    ];
    cases
        .into_iter()
        .map(|(path, headers, peer)| {
            let mut request = http::Request::get(path);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let mut request = request.body(Body::empty()).unwrap();
            if let Some(ip) = peer {
                request
                    .extensions_mut()
                    .insert(ConnectInfo(SocketAddr::from((ip, 40_000))));
            }
            request
        })
        .collect()
}

/// The `span` objects of the lines written while `layer` served [`requests`], with a generated
/// request id (random, so different in every run) masked.
async fn span_objects(layer: impl Fn(&Telemetry) -> ObsLayer) -> Vec<Value> {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("fields")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    assert!(telemetry.head_sampler().is_some());
    let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
    let app = app(layer(&telemetry).trusted_proxies(proxies));
    for request in requests() {
        common::send_traced(&app, telemetry.dispatch(), request).await;
    }
    logs.json_lines()
        .into_iter()
        .filter_map(|line| {
            let mut span = line.get("span")?.clone();
            let id = span.get("http.request_id")?.as_str()?;
            if !id.starts_with("req-") {
                assert_eq!(id.len(), 32, "{span}");
                span["http.request_id"] = Value::from("generated");
            }
            Some(span)
        })
        .collect()
}

#[tokio::test]
async fn log_lines_show_the_span_fields_the_span_would_have_formatted() {
    let kept = span_objects(ObsLayer::new).await;
    let formatted =
        span_objects(|telemetry| ObsLayer::from_metrics(telemetry.metrics()).unwrap()).await;
    assert_eq!(kept.len(), 6, "{kept:#?}");
    assert_eq!(kept, formatted);
    // The values did reach the lines (fields recorded after the span opened, which follow
    // them, are covered in obs-core's `json_logs`).
    assert_eq!(kept[0]["otel.name"], "GET /todos/{id}");
    assert_eq!(
        kept[1]["user_agent.original"],
        "evil \"agent\" \\ with\ttab"
    );
    assert!(kept[2]["url.path"].as_str().unwrap().ends_with('…'));
    assert_eq!(kept[3]["client.address"], "203.0.113.9");
    assert_eq!(kept[3]["url.scheme"], "https");
    assert_eq!(kept[4]["http.request_id"], "generated");
    assert_eq!(kept[5]["http.route"], "/fail");
}
