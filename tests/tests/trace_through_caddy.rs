//! One request through Caddy, with the caller's `traceparent`, becomes one trace: the backend's
//! server span is the child of the caller's span, and the sqlx and redis spans are children of
//! the server span.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use obs_e2e::{BackendOptions, Stack};
use obs_testkit::OtlpCollector;
use obs_testkit::PgDatabase;
use serde_json::{Value, json};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER: &str = "b7ad6b7169203331";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_through_caddy_is_one_trace_down_to_sql_and_redis() {
    let Some(db) = PgDatabase::create("obs_e2e").await else {
        return;
    };
    let Some(redis_url) = obs_testkit::fresh_redis_db(12).await else {
        return;
    };
    let collector = OtlpCollector::start_grpc().await;
    let options = BackendOptions {
        database_url: db.url().to_owned(),
        redis_url: Some(redis_url),
        otlp_endpoint: Some(collector.endpoint()),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };
    let client = reqwest::Client::new();

    let signup: Value = client
        .post(format!("{}/api/auth/signup", stack.url))
        .json(&json!({"email": format!("{}@example.com", obs_testkit::unique("trace")), "password": "password123", "name": "Tracy"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["token"].as_str().unwrap();

    let response = client
        .post(format!("{}/api/todos", stack.url))
        .bearer_auth(token)
        .header("traceparent", format!("00-{TRACE}-{CALLER}-01"))
        .json(&json!({"title": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let trace_response = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        trace_response.starts_with(&format!("00-{TRACE}-")),
        "{trace_response}"
    );

    // Spans are exported in batches: wait for the server span and its children.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans = collector.spans();
        let in_trace: Vec<_> = spans
            .iter()
            .filter(|s| s.trace_id() == TRACE)
            .cloned()
            .collect();
        let has_sql = in_trace
            .iter()
            .any(|s| s.attr("db.system.name").as_deref() == Some("postgresql"));
        let has_redis = in_trace
            .iter()
            .any(|s| s.attr("db.system.name").as_deref() == Some("redis"));
        if (has_sql && has_redis) || tokio::time::Instant::now() > deadline {
            break in_trace;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name()).collect();
    let server = spans
        .iter()
        .find(|s| s.name() == "POST /api/todos")
        .unwrap_or_else(|| {
            panic!(
                "no server span among {names:?}\n{}",
                stack.backends[0].0.output()
            )
        });
    assert_eq!(
        server.parent_span_id(),
        CALLER,
        "the caller's span is the parent"
    );
    assert_eq!(server.resource["service.name"], "todo-backend");
    assert_eq!(server.resource["service.instance.id"], "backend-1");
    assert!(trace_response.contains(&server.span_id()));

    let sql = spans
        .iter()
        .find(|s| {
            s.attr("db.system.name").as_deref() == Some("postgresql")
                && s.attr("db.operation.name").as_deref() == Some("INSERT")
        })
        .unwrap_or_else(|| panic!("no INSERT span among {names:?}"));
    assert_eq!(sql.attr("db.collection.name").as_deref(), Some("todos"));
    assert_eq!(
        sql.parent_span_id(),
        server.span_id(),
        "sqlx span is a child of the server span"
    );
    let redis = spans
        .iter()
        .find(|s| s.attr("db.system.name").as_deref() == Some("redis"))
        .unwrap_or_else(|| panic!("no redis span among {names:?}"));
    assert_eq!(
        redis.parent_span_id(),
        server.span_id(),
        "redis span is a child of the server span"
    );
    let text = sql.attr("db.query.text").unwrap_or_default();
    assert!(
        !text.contains("traced"),
        "values never reach db.query.text: {text}"
    );
}
