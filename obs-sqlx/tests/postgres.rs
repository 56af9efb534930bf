//! PostgreSQL through the instrumented pool: the shared scenario, pool exhaustion and spans.

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
async fn statements_land_with_their_labels() {
    let Some(raw) = connect(5, Duration::from_secs(5)).await else {
        return;
    };
    let metrics = Metrics::new();
    let pool = InstrumentedPool::builder(raw, &metrics)
        .pool_name("pg")
        .build()
        .unwrap();
    common::scenario(pool, &metrics, "postgresql").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_connections_are_executors_by_reference() {
    let Some(raw) = connect(2, Duration::from_secs(5)).await else {
        return;
    };
    let metrics = Metrics::new();
    let pool = InstrumentedPool::new(raw, &metrics).unwrap();
    let mut tx = pool.begin().await.unwrap();
    let (n,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(&mut tx).await.unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SELECT 2").execute(&mut conn).await.unwrap();
    assert_eq!(common::count(&metrics, "postgresql", "SELECT", "", ""), 2);
}

fn gauge(text: &str, metric: &str, labels: &str) -> Option<f64> {
    let prefix = format!("{metric}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_counts_timeouts_and_waits() {
    let Some(raw) = connect(1, Duration::from_millis(300)).await else {
        return;
    };
    let metrics = Metrics::new();
    let name = common::unique("exhausted");
    let pool = InstrumentedPool::builder(raw, &metrics)
        .pool_name(name.clone())
        .build()
        .unwrap();
    let db = metrics.db_client().unwrap();
    let pool_label = format!(r#"db_client_connection_pool_name="{name}""#);
    let state = |s: &str| format!(r#"{pool_label},db_client_connection_state="{s}""#);

    let held = pool.acquire().await.unwrap();
    let text = metrics.encode().unwrap();
    assert_eq!(
        gauge(&text, "db_client_connection_count", &state("used")),
        Some(1.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_count", &state("idle")),
        Some(0.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_max", &pool_label),
        Some(1.0)
    );

    // A waiter shows up as a pending request, then times out.
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.acquire().await.map(drop) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = metrics.encode().unwrap();
    assert_eq!(
        gauge(&text, "db_client_connection_pending_requests", &pool_label),
        Some(1.0)
    );
    assert!(matches!(
        waiter.await.unwrap(),
        Err(sqlx::Error::PoolTimedOut)
    ));
    // A statement on the exhausted pool times out in its implicit acquire.
    let err = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
    assert!(matches!(err, sqlx::Error::PoolTimedOut));
    assert_eq!(
        common::count(&metrics, "postgresql", "SELECT", "", "PoolTimedOut"),
        1
    );

    let timeouts = db.connection_timeouts.with_label_values(&[&name]).get();
    assert_eq!(timeouts, 2);
    let waits = db.connection_wait_time.with_label_values(&[&name]);
    assert_eq!(waits.get_sample_count(), 3, "one success, two timeouts");
    assert!(waits.get_sample_sum() >= 0.5, "{}", waits.get_sample_sum());

    drop(held);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = metrics.encode().unwrap();
    assert_eq!(
        gauge(&text, "db_client_connection_count", &state("used")),
        Some(0.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_count", &state("idle")),
        Some(1.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_pending_requests", &pool_label),
        Some(0.0)
    );
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
    let t = common::unique("obs_span");

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
}
