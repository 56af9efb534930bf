//! Exemplars end to end: the native Prometheus, with exemplar storage on, scrapes the example
//! (negotiating OpenMetrics), and `/api/v1/query_exemplars` returns, on the HTTP and database
//! duration histograms, trace and span ids that the OTLP collector received.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use obs_e2e::{BackendOptions, Stack, free_port, monitoring};
use obs_testkit::{OtlpCollector, PgDatabase};
use serde_json::{Value, json};

/// (trace id, span id) of every exemplar Prometheus stored for the series `selector`.
async fn exemplars(prometheus: &str, selector: &str) -> BTreeSet<(String, String)> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let response: Value = reqwest::Client::new()
        .get(format!("{prometheus}/api/v1/query_exemplars"))
        .query(&[
            ("query", selector.to_owned()),
            ("start", (now - 600).to_string()),
            ("end", (now + 60).to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(response["status"], "success", "{response}");
    let mut ids = BTreeSet::new();
    for series in response["data"].as_array().unwrap() {
        for exemplar in series["exemplars"].as_array().unwrap() {
            let labels = &exemplar["labels"];
            let trace_id = labels["trace_id"].as_str().unwrap().to_owned();
            let span_id = labels["span_id"].as_str().unwrap().to_owned();
            assert_eq!((trace_id.len(), span_id.len()), (32, 16), "{exemplar}");
            ids.insert((trace_id, span_id));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_exemplars_that_lead_to_exported_traces() {
    let Some(db) = PgDatabase::create("obs_exemplars").await else {
        return;
    };
    let collector = OtlpCollector::start_grpc().await;
    let options = BackendOptions {
        database_url: db.url().to_owned(),
        otlp_endpoint: Some(collector.endpoint()),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };
    let backend = format!("127.0.0.1:{}", stack.backends[0].1);
    let targets = vec![(
        "todo-backend".to_owned(),
        vec![("backend-1".to_owned(), backend)],
    )];
    let Some(prometheus) = monitoring::prometheus(&targets, free_port(), "1s").await else {
        return;
    };
    let prometheus_url = prometheus.url();

    // Traffic the example's default sampler (parent-based, always on) records.
    let client = reqwest::Client::new();
    let signup: Value = client
        .post(format!("{}/api/auth/signup", stack.url))
        .json(&json!({"email": format!("{}@example.com", obs_testkit::unique("ex")), "password": "password123", "name": "Exa"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["token"].as_str().unwrap().to_owned();
    let http_selector = "http_server_request_duration_seconds_bucket{job=\"todo-backend\"}";
    let db_selector = "db_client_operation_duration_seconds_bucket{job=\"todo-backend\"}";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let (http, db_ids) = loop {
        for i in 0..3 {
            let response = client
                .post(format!("{}/api/todos", stack.url))
                .bearer_auth(&token)
                .json(&json!({"title": format!("exemplar {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
        let http = exemplars(&prometheus_url, http_selector).await;
        let db_ids = exemplars(&prometheus_url, db_selector).await;
        if (!http.is_empty() && !db_ids.is_empty()) || tokio::time::Instant::now() > deadline {
            break (http, db_ids);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        !http.is_empty() && !db_ids.is_empty(),
        "no exemplars stored (http {http:?}, db {db_ids:?}); Prometheus:\n{}\nbackend:\n{}",
        prometheus.process.output(),
        stack.backends[0].0.output()
    );

    // Every exemplar is a span the collector received: exported in batches, so wait.
    let wanted: BTreeSet<_> = http.union(&db_ids).cloned().collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let received: BTreeSet<(String, String)> = collector
            .spans()
            .iter()
            .map(|s| (s.trace_id(), s.span_id()))
            .collect();
        let missing: Vec<_> = wanted.difference(&received).cloned().collect();
        if missing.is_empty() || tokio::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "exemplars without a received span: {missing:?}"
    );
    // The exemplars of the HTTP histogram are server spans, those of the database histogram
    // client spans.
    let spans = collector.spans();
    let kind_of = |(trace, span): &(String, String)| {
        spans
            .iter()
            .find(|s| &s.trace_id() == trace && &s.span_id() == span)
            .map(|s| s.kind())
    };
    assert!(
        http.iter().all(|ids| kind_of(ids) == Some(2)),
        "server spans"
    );
    assert!(
        db_ids.iter().all(|ids| kind_of(ids) == Some(3)),
        "client spans"
    );
}
