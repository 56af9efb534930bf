//! Faro's performance events through the receiver's router: navigation phases and resource
//! timings become bounded histograms, hostile values are counted as dropped, and the events
//! are still counted as events.

#![cfg(feature = "rum")]
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use obs_axum::rum::RumReceiver;
use obs_core::Metrics;
use obs_testkit::Exposition;
use serde_json::{Value, json};
use tower::ServiceExt;

const PATH: &str = "/faro/collect";
const APP: (&str, &str) = ("app_name", "todo-frontend");

fn router(metrics: &Metrics) -> Router {
    RumReceiver::from_metrics(metrics)
        .unwrap()
        .app_names(["todo-frontend"])
        .page_routes(["/", "/todos/{id}"])
        .into_router()
}

async fn post(app: &Router, payload: &Value) -> StatusCode {
    let request = Request::post(PATH)
        .header("content-type", "application/json")
        .body(Body::from(payload.to_string()))
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

fn batch(url: &str, events: Vec<Value>) -> Value {
    json!({
        "meta": {
            "sdk": {"name": "@grafana/faro-web-sdk", "version": "2.12.1"},
            "app": {"name": "todo-frontend", "version": "1.0.0"},
            "session": {"id": "sess-1"},
            "page": {"url": url}
        },
        "events": events
    })
}

/// A navigation event as Faro 2.12 sends it: every value a decimal string of milliseconds.
fn navigation(tls: &str, tcp: &str) -> Value {
    json!({
        "name": "faro.performance.navigation",
        "domain": "browser",
        "attributes": {
            "name": "https://todo.example/todos/7",
            "duration": "1250",
            "dnsLookupTime": "12",
            "tcpHandshakeTime": tcp,
            "tlsNegotiationTime": tls,
            "ttfb": "180",
            "domProcessingTime": "400",
            "pageLoadTime": "1200",
            "onLoadTime": "3",
            "transferSize": "5120",
            "initiatorType": "navigation",
            "type": "navigate",
            "faroNavigationId": "abc123"
        }
    })
}

fn resource(initiator: &str, duration: &str, transfer: &str) -> Value {
    json!({
        "name": "faro.performance.resource",
        "domain": "browser",
        "attributes": {
            "name": "https://todo.example/app.js",
            "duration": duration,
            "transferSize": transfer,
            "encodedBodySize": "6200",
            "initiatorType": initiator,
            "faroNavigationId": "abc123",
            "faroResourceId": "r1"
        }
    })
}

fn exposition(metrics: &Metrics) -> Exposition {
    Exposition::parse(&metrics.encode().unwrap()).unwrap()
}

const PHASE: &str = "browser_navigation_phase_duration_seconds";
const DURATION: &str = "browser_resource_duration_seconds";
const SIZE: &str = "browser_resource_transfer_size_bytes";
const DROPPED: &str = "obs_rum_items_dropped_total";

#[tokio::test]
async fn navigation_and_resource_events_become_histograms() {
    let metrics = Metrics::new();
    let app = router(&metrics);
    let events = vec![
        navigation("20", "35"),
        resource("script", "84", "6500"),
        resource("script", "16", "0"),
        resource("beacon", "40", "300"),
        // A garbage duration: the size is still recorded, the duration is dropped.
        resource("img", "soon", "2048"),
    ];
    let status = post(&app, &batch("https://todo.example/todos/7?x=1", events)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let e = exposition(&metrics);
    let route = ("page_route", "/todos/{id}");

    // One series per phase, each observed once, in seconds.
    assert_eq!(e.series(&format!("{PHASE}_count")).count(), 6);
    for (phase, ms) in [
        ("dns", 12.0),
        ("connect", 35.0),
        ("tls", 20.0),
        ("ttfb", 180.0),
        ("dom_processing", 400.0),
        ("page_load", 1200.0),
    ] {
        let labels = [APP, route, ("phase", phase)];
        assert_eq!(
            e.value(&format!("{PHASE}_count"), &labels),
            Some(1.0),
            "{phase}"
        );
        let sum = e.value(&format!("{PHASE}_sum"), &labels).unwrap();
        assert!((sum - ms / 1000.0).abs() < 1e-9, "{phase}: {sum}");
    }
    // 0.18 s lands in the 0.25 bucket, not the 0.1 one.
    let ttfb = |le| {
        e.value(
            &format!("{PHASE}_bucket"),
            &[APP, route, ("phase", "ttfb"), ("le", le)],
        )
    };
    assert_eq!((ttfb("0.1"), ttfb("0.25")), (Some(0.0), Some(1.0)));

    // Resources by initiator type; an unknown one is `other`.
    let script = [APP, ("initiator_type", "script")];
    let other = [APP, ("initiator_type", "other")];
    let img = [APP, ("initiator_type", "img")];
    assert_eq!(e.value(&format!("{DURATION}_count"), &script), Some(2.0));
    assert_eq!(e.value(&format!("{DURATION}_sum"), &script), Some(0.1));
    assert_eq!(e.value(&format!("{DURATION}_count"), &other), Some(1.0));
    assert_eq!(e.value(&format!("{DURATION}_count"), &img), None);
    assert_eq!(e.series(&format!("{DURATION}_count")).count(), 2);
    // The JS bytes transferred: what the dashboard divides by page loads.
    assert_eq!(e.value(&format!("{SIZE}_sum"), &script), Some(6500.0));
    assert_eq!(e.value(&format!("{SIZE}_count"), &script), Some(2.0));
    assert_eq!(e.value(&format!("{SIZE}_sum"), &other), Some(300.0));
    assert_eq!(e.value(&format!("{SIZE}_sum"), &img), Some(2048.0));
    assert_eq!(e.series(&format!("{SIZE}_count")).count(), 3);

    // The garbage duration, and nothing else, was dropped.
    assert_eq!(e.value(DROPPED, &[("reason", "invalid_value")]), Some(1.0));
    assert_eq!(e.sum(DROPPED), 1.0);
    // They are still events, counted as today.
    assert_eq!(
        e.value("obs_rum_items_received_total", &[("kind", "event")]),
        Some(5.0)
    );
    assert_eq!(
        e.value("browser_events_total", &[APP, ("event_name", "other")]),
        Some(5.0)
    );
}

#[tokio::test]
async fn hostile_values_are_dropped_not_recorded() {
    let metrics = Metrics::new();
    let app = router(&metrics);
    let mut hostile = navigation("unknown", "-5");
    let attributes = hostile["attributes"].as_object_mut().unwrap();
    attributes.insert("dnsLookupTime".into(), json!("NaN"));
    attributes.insert("ttfb".into(), json!("1e400"));
    attributes.insert("domProcessingTime".into(), json!("600001"));
    attributes.remove("pageLoadTime");
    let events = vec![
        hostile,
        resource("script", "inf", "1073741825"),
        resource("script", "-1", "12abc"),
        resource("link", "", "unknown"),
        // At the bounds: kept.
        resource("script", "600000", "1073741824"),
    ];
    let status = post(&app, &batch("https://todo.example/", events)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let e = exposition(&metrics);
    // Six phases, three resources with two bad values each.
    assert_eq!(e.value(DROPPED, &[("reason", "invalid_value")]), Some(12.0));
    assert_eq!(e.series(&format!("{PHASE}_count")).count(), 0);
    let script = [APP, ("initiator_type", "script")];
    assert_eq!(e.value(&format!("{DURATION}_count"), &script), Some(1.0));
    assert_eq!(e.value(&format!("{DURATION}_sum"), &script), Some(600.0));
    assert_eq!(
        e.value(&format!("{SIZE}_sum"), &script),
        Some(1_073_741_824.0)
    );
    assert_eq!(e.series(&format!("{DURATION}_count")).count(), 1);
}

#[tokio::test]
async fn a_page_without_tls_records_no_tls_phase() {
    // Without TLS, `secureConnectionStart` is 0 and Faro's TLS time is `connectEnd`: more than
    // the connect phase it is part of.
    let metrics = Metrics::new();
    let app = router(&metrics);
    let status = post(
        &app,
        &batch("http://localhost/", vec![navigation("48", "3")]),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let e = exposition(&metrics);
    let tls = [APP, ("page_route", "/"), ("phase", "tls")];
    let connect = [APP, ("page_route", "/"), ("phase", "connect")];
    assert_eq!(e.value(&format!("{PHASE}_count"), &tls), None);
    assert_eq!(e.value(&format!("{PHASE}_count"), &connect), Some(1.0));
    assert_eq!(e.series(&format!("{PHASE}_count")).count(), 5);
    assert_eq!(e.sum(DROPPED), 0.0);
}

#[tokio::test]
async fn other_apps_and_pages_are_other() {
    let metrics = Metrics::new();
    let app = router(&metrics);
    let mut payload = batch(
        "https://todo.example/admin/secret",
        vec![navigation("1", "2"), resource("fetch", "5", "100")],
    );
    payload["meta"]["app"]["name"] = json!("evil-app");
    assert_eq!(post(&app, &payload).await, StatusCode::ACCEPTED);
    let e = exposition(&metrics);
    let labels = [
        ("app_name", "other"),
        ("page_route", "other"),
        ("phase", "page_load"),
    ];
    assert_eq!(e.value(&format!("{PHASE}_count"), &labels), Some(1.0));
    assert_eq!(
        e.value(
            &format!("{DURATION}_count"),
            &[("app_name", "other"), ("initiator_type", "fetch")]
        ),
        Some(1.0)
    );
}
