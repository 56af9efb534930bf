//! Commands become child spans of the caller's span, with their attributes.
//!
//! Alone in its test binary: tracing caches per-callsite interest globally, and a test without
//! a subscriber hitting the same callsite concurrently could leave it disabled.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use obs_core::{Metrics, Telemetry};
use obs_redis::InstrumentedConnection;
use obs_testkit::OtlpCollector;
use redis::AsyncCommands;
use tracing::instrument::WithSubscriber;

const URL: &str = "redis://127.0.0.1:6379/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_child_spans_with_attributes() {
    let client = redis::Client::open(URL).unwrap();
    let conn = match client.get_multiplexed_async_connection().await {
        Ok(conn) => conn,
        Err(e) => {
            obs_testkit::require(format!("Redis at {URL} is not reachable: {e}"));
            return;
        }
    };
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("svc")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let mut conn = InstrumentedConnection::builder(conn, &metrics)
        .connection_info(client.get_connection_info())
        .query_text(true)
        .build()
        .unwrap();
    let k = format!("obs-test:{}:span", std::process::id());

    let work = async move {
        let parent = tracing::info_span!("handler");
        let run = async {
            let _: () = conn.set_ex(&k, "secret-value", 60).await.unwrap();
            let _: () = redis::pipe()
                .get(&k)
                .get(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            let _ = redis::cmd("FROBNICATE").query_async::<()>(&mut conn).await;
            let _: () = conn.del(&k).await.unwrap();
        };
        tracing::Instrument::instrument(run, parent).await;
    };
    work.with_subscriber(telemetry.dispatch().clone()).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(5, Duration::from_secs(10)).await;
    let parent = spans.iter().find(|s| s.name() == "handler").unwrap();
    let names: Vec<_> = spans.iter().map(|s| s.name()).collect();
    let set = spans
        .iter()
        .find(|s| s.name() == "SETEX")
        .unwrap_or_else(|| panic!("{names:?}"));
    assert_eq!(set.parent_span_id(), parent.span_id());
    assert_eq!(set.kind(), 3, "client");
    assert_eq!(set.attr("db.system.name").as_deref(), Some("redis"));
    assert_eq!(set.attr("db.operation.name").as_deref(), Some("SETEX"));
    assert_eq!(set.int_attr("db.namespace"), Some(0));
    assert_eq!(set.attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(set.int_attr("server.port"), Some(6379));
    assert_eq!(set.attr("db.query.text").as_deref(), Some("SETEX ? ? ?"));
    let pipeline = spans.iter().find(|s| s.name() == "PIPELINE GET").unwrap();
    assert_eq!(pipeline.int_attr("db.operation.batch.size"), Some(2));
    assert_eq!(pipeline.parent_span_id(), parent.span_id());
    let other = spans.iter().find(|s| s.name() == "OTHER").unwrap();
    assert_eq!(other.status_code(), 2);
    assert_eq!(other.attr("error.type").as_deref(), Some("ERR"));
    for span in &spans {
        for kv in &span.span.attributes {
            let value = format!("{:?}", kv.value);
            assert!(
                !value.contains("secret-value") && !value.contains("obs-test:"),
                "{value}"
            );
        }
    }

    // The duration buckets carry the commands' spans as exemplars, in OpenMetrics.
    let exposition =
        obs_testkit::Exposition::parse_openmetrics(&metrics.encode_openmetrics().unwrap()).unwrap();
    let exemplars: Vec<_> = exposition
        .series("db_client_operation_duration_seconds_bucket")
        .filter(|s| s.has_labels(&[("db_operation_name", "SETEX"), ("error_type", "")]))
        .filter_map(|s| s.exemplar.clone())
        .collect();
    assert_eq!(exemplars.len(), 1, "{exemplars:?}");
    assert_eq!(
        exemplars[0].label("trace_id"),
        Some(set.trace_id().as_str())
    );
    assert_eq!(exemplars[0].label("span_id"), Some(set.span_id().as_str()));
}
