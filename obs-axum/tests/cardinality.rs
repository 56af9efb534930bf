//! Generated requests (proptest: method tokens, paths) keep the number of series, checked after
//! each request, bounded by routes × known methods × statuses seen.

#![allow(clippy::unwrap_used)]

mod common;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::Metrics;
use obs_core::names::{HTTP_SERVER_REQUEST_DURATION, KNOWN_HTTP_METHODS, METHOD_OTHER};
use proptest::prelude::*;

/// Requests per run, each with a generated method and path, the series checked after each.
const REQUESTS: u32 = 1_000;

/// GET or POST half the time, otherwise an upper-case token that is no known method.
fn method() -> impl Strategy<Value = String> {
    let token = "[A-Z]{3,8}".prop_filter("a known method", |token: &String| {
        !KNOWN_HTTP_METHODS.contains(&token.as_str())
    });
    prop_oneof![
        1 => Just("GET".to_owned()),
        1 => Just("POST".to_owned()),
        2 => token,
    ]
}

/// A todo by any id, a path no route matches, or the collection.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|id| format!("/api/todos/{id}")),
        ("[A-Z]{5}", any::<u64>()).prop_map(|(segment, id)| format!("/{segment}/{id}")),
        Just("/api/todos".to_owned()),
    ]
}

#[test]
fn random_paths_and_methods_keep_series_bounded() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let app = Router::new()
        .route(
            "/api/todos/{id}",
            get(|| async { "todo" }).post(|| async { "ok" }),
        )
        .route("/api/todos", get(|| async { "[]" }))
        .layer(ObsLayer::from_metrics(&metrics).unwrap());
    let routes = ["/api/todos/{id}", "/api/todos", "unmatched"];
    let statuses = RefCell::new(HashSet::new());
    let requests = Cell::new(0u32);
    common::check(
        common::proptest_config(REQUESTS, file!()),
        (method(), path()),
        |(method, path)| {
            let (status, _, _) =
                runtime.block_on(common::send(&app, &method, &path, Body::empty()));
            requests.set(requests.get() + 1);
            let mut statuses = statuses.borrow_mut();
            statuses.insert(status.as_u16());
            let text = metrics.encode().unwrap();
            let all = common::series(&text, &format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
            let bound = routes.len() * (KNOWN_HTTP_METHODS.len() + 1) * statuses.len();
            prop_assert!(all.len() <= bound, "{} series > bound {}", all.len(), bound);
            // In fact only GET, POST and _OTHER occur.
            prop_assert!(all.len() <= routes.len() * 3 * statuses.len(), "{:?}", all);
            for labels in &all {
                for (k, v) in labels {
                    match k.as_str() {
                        "http_route" => prop_assert!(routes.contains(&v.as_str()), "route {}", v),
                        "http_request_method" => prop_assert!(
                            KNOWN_HTTP_METHODS.contains(&v.as_str()) || v == METHOD_OTHER,
                            "method {}",
                            v
                        ),
                        _ => {}
                    }
                }
            }
            Ok(())
        },
    );
    let text = metrics.encode().unwrap();
    let total = obs_testkit::Exposition::parse(&text)
        .unwrap()
        .sum(&format!("{HTTP_SERVER_REQUEST_DURATION}_count"));
    assert_eq!(total, f64::from(requests.get()));
    assert!(requests.get() >= REQUESTS);
}
