//! Histogram boundaries are the user's when given, today's defaults otherwise.

#![allow(clippy::unwrap_used)]

use obs_core::prometheus::Registry;
use obs_core::{Buckets, DbOperationLabels, HttpServerLabels, Metrics};

/// The buckets of `family`'s one series, as `le=count`.
fn bucket_lines(text: &str, family: &str) -> Vec<String> {
    obs_testkit::Exposition::parse(text)
        .unwrap()
        .series(&format!("{family}_bucket"))
        .map(|s| format!("{}={}", s.label("le").unwrap(), s.value))
        .collect()
}

#[test]
fn custom_boundaries_replace_the_defaults_per_family() {
    let buckets = Buckets::default()
        .http_duration([0.1, 0.5])
        .unwrap()
        .db_duration([0.002, 0.02])
        .unwrap();
    let metrics = Metrics::with_buckets(Registry::new(), buckets);
    metrics
        .http_server()
        .unwrap()
        .request_duration(HttpServerLabels {
            method: "GET",
            route: "/todos",
            status: "200",
            error_type: "",
        })
        .observe(0.3);
    metrics
        .db_client()
        .unwrap()
        .operation_duration(DbOperationLabels {
            system: "postgresql",
            operation: "SELECT",
            collection: "todos",
            error_type: "",
        })
        .observe(0.01);
    let text = metrics.encode().unwrap();
    assert_eq!(
        bucket_lines(&text, "http_server_request_duration_seconds"),
        ["0.1=0", "0.5=1", "+Inf=1"]
    );
    assert_eq!(
        bucket_lines(&text, "db_client_operation_duration_seconds"),
        ["0.002=0", "0.02=1", "+Inf=1"]
    );
}

#[test]
fn the_defaults_are_the_opentelemetry_boundaries() {
    let metrics = Metrics::new();
    metrics
        .http_server()
        .unwrap()
        .request_duration(HttpServerLabels {
            method: "GET",
            route: "/todos",
            status: "200",
            error_type: "",
        })
        .observe(0.3);
    let text = metrics.encode().unwrap();
    let les: Vec<String> = bucket_lines(&text, "http_server_request_duration_seconds")
        .into_iter()
        .map(|l| l.split('=').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        les,
        [
            "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5",
            "5", "7.5", "10", "+Inf"
        ]
    );
}
