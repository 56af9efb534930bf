//! Statements become child spans of the caller's span, with their attributes (PostgreSQL).
//!
//! Alone in its test binary: tracing caches per-callsite interest globally, and a test without
//! a subscriber hitting the same callsite concurrently could leave it disabled.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use obs_core::{Metrics, Telemetry};
use obs_sqlx::InstrumentedPool;
use obs_testkit::OtlpCollector;
use tracing::instrument::WithSubscriber;

const URL: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn connect(max: u32, timeout: Duration) -> Option<sqlx::PgPool> {
    match sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(timeout)
        .connect(URL)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => {
            obs_testkit::require(format!("PostgreSQL at {URL} is not reachable: {e}"));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_child_spans_with_attributes() {
    let Some(raw) = connect(2, Duration::from_secs(5)).await else {
        return;
    };
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = Telemetry::builder("svc")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let metrics = Metrics::new();
    let pool = InstrumentedPool::new(raw, &metrics).unwrap();
    let t = obs_testkit::unique("obs_span");

    let work = {
        let pool = pool.clone();
        let t = t.clone();
        async move {
            let parent = tracing::info_span!("handler");
            let run = async {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE TABLE {t} (id int PRIMARY KEY, name text)"
                )))
                .execute(&pool)
                .await
                .unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {t} (id, name) VALUES (1, 'alice'), (2, 'bob')"
                )))
                .execute(&pool)
                .await
                .unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT * FROM {t} WHERE name = 'alice' OR id > 0"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                assert_eq!(rows.len(), 2);
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {t} (id, name) VALUES (1, 'again')"
                )))
                .execute(&pool)
                .await
                .unwrap_err();
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {t}")))
                    .execute(&pool)
                    .await
                    .unwrap();
            };
            tracing::Instrument::instrument(run, parent).await;
        }
    };
    work.with_subscriber(telemetry.dispatch().clone()).await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    let spans = collector.wait_for_spans(6, Duration::from_secs(10)).await;
    let parent = spans.iter().find(|s| s.name() == "handler").unwrap();
    let select = spans
        .iter()
        .find(|s| s.name() == format!("SELECT {t}"))
        .unwrap_or_else(|| panic!("{:#?}", spans.iter().map(|s| s.name()).collect::<Vec<_>>()));
    assert_eq!(select.parent_span_id(), parent.span_id());
    assert_eq!(select.trace_id(), parent.trace_id());
    assert_eq!(select.kind(), 3, "client");
    assert_eq!(select.attr("db.system.name").as_deref(), Some("postgresql"));
    assert_eq!(select.attr("db.operation.name").as_deref(), Some("SELECT"));
    assert_eq!(
        select.attr("db.collection.name").as_deref(),
        Some(t.as_str())
    );
    // Read from the connect options when the `postgres` feature is on.
    if cfg!(feature = "postgres") {
        assert_eq!(select.attr("db.namespace").as_deref(), Some("test"));
        assert_eq!(select.attr("server.address").as_deref(), Some("127.0.0.1"));
        assert_eq!(select.int_attr("server.port"), Some(5432));
    }
    assert_eq!(
        select.attr("db.query.text"),
        Some(format!("SELECT * FROM {t} WHERE name = ? OR id > ?"))
    );
    assert_eq!(select.int_attr("db.response.returned_rows"), Some(2));
    assert_eq!(select.status_code(), 0);

    let inserts: Vec<_> = spans
        .iter()
        .filter(|s| s.name() == format!("INSERT {t}"))
        .collect();
    assert_eq!(inserts.len(), 2);
    let ok = inserts.iter().find(|s| s.status_code() == 0).unwrap();
    assert_eq!(
        ok.int_attr("db.response.affected_rows"),
        if cfg!(feature = "postgres") {
            Some(2)
        } else {
            None
        }
    );
    let failed = inserts.iter().find(|s| s.status_code() == 2).unwrap();
    assert_eq!(
        failed.attr("error.type").as_deref(),
        Some("unique_violation")
    );
    assert_eq!(failed.parent_span_id(), parent.span_id());
    assert!(!failed.attr("db.query.text").unwrap().contains("again"));

    // The duration buckets carry the statements' spans as exemplars, in OpenMetrics.
    let exposition =
        obs_testkit::Exposition::parse_openmetrics(&metrics.encode_openmetrics().unwrap()).unwrap();
    let exemplar_of = |operation: &str, error_type: &str| {
        let exemplars: Vec<_> = exposition
            .series("db_client_operation_duration_seconds_bucket")
            .filter(|s| {
                s.has_labels(&[
                    ("db_operation_name", operation),
                    ("db_collection_name", t.as_str()),
                    ("error_type", error_type),
                ])
            })
            .filter_map(|s| s.exemplar.clone())
            .collect();
        assert_eq!(
            exemplars.len(),
            1,
            "{operation} {error_type}: {exemplars:?}"
        );
        let e = &exemplars[0];
        (
            e.label("trace_id").unwrap().to_owned(),
            e.label("span_id").unwrap().to_owned(),
        )
    };
    assert_eq!(
        exemplar_of("SELECT", ""),
        (select.trace_id(), select.span_id())
    );
    assert_eq!(
        exemplar_of("INSERT", "unique_violation"),
        (failed.trace_id(), failed.span_id())
    );
}
