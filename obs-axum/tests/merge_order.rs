//! The metrics router may be merged before or after the application's `ObsLayer`: either way,
//! requests that match no route are recorded as `unmatched` 404, a method a route does not
//! serve as the route's 405, and each request exactly once; scrapes are recorded by the
//! application's layer when it sees them, not by the metrics router's own by default.

#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use common::{sample, send, series};
use obs_axum::{MetricsRoute, ObsLayer};
use obs_core::Metrics;
use obs_core::names::HTTP_SERVER_REQUEST_DURATION;

fn routes() -> Router {
    Router::new().route("/todos/{id}", get(|| async { "todo" }))
}

/// `layer(..).merge(metrics)`: the order of the README and the crate docs.
fn layer_then_merge(layer: ObsLayer, route: MetricsRoute) -> Router {
    routes().layer(layer).merge(route.into_router())
}

/// `merge(metrics).layer(..)`.
fn merge_then_layer(layer: ObsLayer, route: MetricsRoute) -> Router {
    routes().merge(route.into_router()).layer(layer)
}

type Build = fn(ObsLayer, MetricsRoute) -> Router;

/// Both orders, named for the failure messages.
const ORDERS: [(&str, Build); 2] = [
    ("layer then merge", layer_then_merge),
    ("merge then layer", merge_then_layer),
];

fn count(text: &str, method: &str, route: &str, status: &str) -> Option<f64> {
    sample(
        text,
        &format!("{HTTP_SERVER_REQUEST_DURATION}_count"),
        &[
            ("http_request_method", method),
            ("http_route", route),
            ("http_response_status_code", status),
            ("error_type", ""),
        ],
    )
}

/// A matched route, two unknown paths, a method the route does not serve and two scrapes;
/// returns the second scrape, which holds the first one's sample.
async fn traffic(app: &Router) -> String {
    let (status, _, _) = send(app, "GET", "/todos/1", Body::empty()).await;
    assert_eq!(status, 200);
    for path in ["/nope1", "/nope2"] {
        let (status, _, _) = send(app, "GET", path, Body::empty()).await;
        assert_eq!(status, 404);
    }
    let (status, _, _) = send(app, "DELETE", "/todos/1", Body::empty()).await;
    assert_eq!(status, 405);
    let (status, _, _) = send(app, "GET", "/metrics", Body::empty()).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(app, "GET", "/metrics", Body::empty()).await;
    assert_eq!(status, 200);
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn every_request_is_recorded_once_in_either_order() {
    // Scrapes: skipped by the metrics router's own layer; recorded by an application layer
    // around it, as any route.
    for ((order, build), scrapes) in ORDERS.into_iter().zip([None, Some(1.0)]) {
        let metrics = Metrics::new();
        let app = build(
            ObsLayer::from_metrics(&metrics).unwrap(),
            MetricsRoute::new(&metrics),
        );
        let text = traffic(&app).await;
        assert_eq!(
            count(&text, "GET", "/todos/{id}", "200"),
            Some(1.0),
            "{order}\n{text}"
        );
        assert_eq!(
            count(&text, "GET", "unmatched", "404"),
            Some(2.0),
            "{order}\n{text}"
        );
        assert_eq!(
            count(&text, "DELETE", "/todos/{id}", "405"),
            Some(1.0),
            "{order}\n{text}"
        );
        assert_eq!(
            count(&text, "GET", "/metrics", "200"),
            scrapes,
            "{order}\n{text}"
        );
        let all = series(&text, &format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
        let expected = if scrapes.is_some() { 4 } else { 3 };
        assert_eq!(all.len(), expected, "{order}: {all:?}");
        // Requests in flight while the scrape is answered: the scrape itself when it is
        // recorded, counted once, not by two layers.
        assert_eq!(
            sample(
                &text,
                "http_server_active_requests",
                &[("http_request_method", "GET")]
            ),
            Some(scrapes.unwrap_or(0.0)),
            "{order}\n{text}"
        );
    }
}

#[tokio::test]
async fn handed_the_applications_layer_the_route_records_scrapes_in_either_order() {
    for (order, build) in ORDERS {
        let metrics = Metrics::new();
        let layer = ObsLayer::from_metrics(&metrics).unwrap();
        let app = build(layer.clone(), MetricsRoute::new(&metrics).obs_layer(layer));
        let text = traffic(&app).await;
        assert_eq!(
            count(&text, "GET", "/metrics", "200"),
            Some(1.0),
            "{order}\n{text}"
        );
        assert_eq!(
            count(&text, "GET", "unmatched", "404"),
            Some(2.0),
            "{order}\n{text}"
        );
    }
}

#[tokio::test]
async fn the_applications_layer_decides_in_either_order_when_handed_to_the_route() {
    for (order, build) in ORDERS {
        let metrics = Metrics::new();
        let layer = ObsLayer::from_metrics(&metrics)
            .unwrap()
            .skip_paths(["/metrics", "/nope2"]);
        let app = build(layer.clone(), MetricsRoute::new(&metrics).obs_layer(layer));
        let text = traffic(&app).await;
        assert_eq!(
            count(&text, "GET", "unmatched", "404"),
            Some(1.0),
            "{order}\n{text}"
        );
        assert_eq!(count(&text, "GET", "/metrics", "200"), None, "{order}");
        let all = series(&text, &format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
        assert_eq!(all.len(), 3, "{order}: {all:?}");
    }
}

#[tokio::test]
async fn recording_can_be_left_to_the_application() {
    let metrics = Metrics::new();
    let app = layer_then_merge(
        ObsLayer::from_metrics(&metrics).unwrap(),
        MetricsRoute::new(&metrics).record_requests(false),
    );
    let text = traffic(&app).await;
    assert_eq!(count(&text, "GET", "/todos/{id}", "200"), Some(1.0));
    assert_eq!(count(&text, "DELETE", "/todos/{id}", "405"), Some(1.0));
    assert_eq!(count(&text, "GET", "unmatched", "404"), None, "{text}");
    assert_eq!(count(&text, "GET", "/metrics", "200"), None, "{text}");
}

#[tokio::test]
async fn a_router_merged_later_keeps_unmatched_recorded_with_only_unobserved() {
    let metrics = Metrics::new();
    let layer = ObsLayer::from_metrics(&metrics).unwrap();
    let admin = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .layer(layer.clone().only_unobserved(true));
    let app = routes()
        .layer(layer)
        .merge(MetricsRoute::new(&metrics).into_router())
        .merge(admin);
    send(&app, "GET", "/admin", Body::empty()).await;
    let (status, _, _) = send(&app, "GET", "/nope", Body::empty()).await;
    assert_eq!(status, 404);
    let text = metrics.encode().unwrap();
    assert_eq!(count(&text, "GET", "/admin", "200"), Some(1.0), "{text}");
    assert_eq!(count(&text, "GET", "unmatched", "404"), Some(1.0), "{text}");
}

#[tokio::test]
async fn an_outer_layers_skip_paths_hold_for_the_metrics_router_inside_it() {
    let metrics = Metrics::new();
    let app = merge_then_layer(
        ObsLayer::from_metrics(&metrics)
            .unwrap()
            .skip_paths(["/metrics", "/nope2"]),
        MetricsRoute::new(&metrics),
    );
    let text = traffic(&app).await;
    assert_eq!(count(&text, "GET", "unmatched", "404"), Some(1.0), "{text}");
    assert_eq!(count(&text, "GET", "/metrics", "200"), None, "{text}");
}
