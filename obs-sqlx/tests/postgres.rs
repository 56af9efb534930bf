//! PostgreSQL through the instrumented pool: the shared scenario and pool exhaustion.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;
use obs_testkit::{Exposition, unique};

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

/// The sample `metric` of pool `pool` (in connection state `state` when given), exactly.
fn gauge(text: &str, metric: &str, pool: &str, state: Option<&str>) -> Option<f64> {
    let mut labels = vec![("db_client_connection_pool_name", pool)];
    labels.extend(state.map(|s| ("db_client_connection_state", s)));
    Exposition::parse(text).unwrap().value(metric, &labels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_counts_timeouts_and_waits() {
    let Some(raw) = connect(1, Duration::from_millis(300)).await else {
        return;
    };
    let metrics = Metrics::new();
    let name = unique("exhausted");
    let pool = InstrumentedPool::builder(raw, &metrics)
        .pool_name(name.clone())
        .build()
        .unwrap();
    let db = metrics.db_client().unwrap();

    let held = pool.acquire().await.unwrap();
    let text = metrics.encode().unwrap();
    assert_eq!(
        gauge(&text, "db_client_connections", &name, Some("used")),
        Some(1.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connections", &name, Some("idle")),
        Some(0.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_max", &name, None),
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
        gauge(&text, "db_client_connection_pending_requests", &name, None),
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

    let series = db.pool(&name);
    assert_eq!(series.connection_timeouts.get(), 2);
    let waits = series.connection_wait_time;
    assert_eq!(waits.get_sample_count(), 3, "one success, two timeouts");
    assert!(waits.get_sample_sum() >= 0.5, "{}", waits.get_sample_sum());

    drop(held);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = metrics.encode().unwrap();
    assert_eq!(
        gauge(&text, "db_client_connections", &name, Some("used")),
        Some(0.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connections", &name, Some("idle")),
        Some(1.0)
    );
    assert_eq!(
        gauge(&text, "db_client_connection_pending_requests", &name, None),
        Some(0.0)
    );
}
