//! 10 000 requests with random paths and 200 random method tokens leave the number of series
//! bounded by routes × known methods × statuses seen.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::Metrics;
use obs_core::names::{HTTP_SERVER_REQUEST_DURATION, KNOWN_HTTP_METHODS, METHOD_OTHER};

/// A small deterministic generator, so a failure reproduces.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn token(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'A' + (self.next() % 26) as u8))
            .collect()
    }
}

#[tokio::test]
async fn random_paths_and_methods_keep_series_bounded() {
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/api/todos/{id}",
            get(|| async { "todo" }).post(|| async { "ok" }),
        )
        .route("/api/todos", get(|| async { "[]" }))
        .layer(ObsLayer::from_metrics(&metrics));

    let mut rng = Lcg(7);
    let methods: Vec<String> = (0..200)
        .map(|_| {
            let len = 3 + (rng.next() % 6) as usize;
            rng.token(len)
        })
        .collect();
    let mut statuses = HashSet::new();
    for i in 0..10_000 {
        let method = match i % 4 {
            0 => "GET".to_owned(),
            1 => "POST".to_owned(),
            _ => methods[(rng.next() % 200) as usize].clone(),
        };
        let path = match i % 3 {
            0 => format!("/api/todos/{}", rng.next()),
            1 => format!("/{}/{}", rng.token(5), rng.next()),
            _ => "/api/todos".to_owned(),
        };
        let (status, _, _) = common::send(&app, &method, &path, Body::empty()).await;
        statuses.insert(status.as_u16());
    }

    let text = metrics.encode().unwrap();
    let all = common::series(&text, &format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
    let routes = ["/api/todos/{id}", "/api/todos", "unmatched"];
    let bound = routes.len() * (KNOWN_HTTP_METHODS.len() + 1) * statuses.len();
    assert!(all.len() <= bound, "{} series > bound {bound}", all.len());
    // In fact only GET, POST and _OTHER occur.
    assert!(all.len() <= routes.len() * 3 * statuses.len(), "{all:?}");
    for labels in &all {
        for (k, v) in labels {
            match k.as_str() {
                "http_route" => assert!(routes.contains(&v.as_str()), "route {v}"),
                "http_request_method" => assert!(
                    KNOWN_HTTP_METHODS.contains(&v.as_str()) || v == METHOD_OTHER,
                    "method {v}"
                ),
                _ => {}
            }
        }
    }
    let total = obs_testkit::Exposition::parse(&text)
        .unwrap()
        .sum(&format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
    assert_eq!(total, 10_000.0);
}
