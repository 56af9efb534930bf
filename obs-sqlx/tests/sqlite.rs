//! SQLite (in-memory) through the instrumented pool.

#![allow(clippy::unwrap_used)]

mod common;

use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;
use obs_testkit::Exposition;

async fn pool(metrics: &Metrics) -> InstrumentedPool<sqlx::Sqlite> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    InstrumentedPool::builder(pool, metrics)
        .pool_name("sqlite")
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_land_with_their_labels() {
    let metrics = Metrics::new();
    let pool = pool(&metrics).await;
    common::scenario(pool, &metrics, "sqlite").await;
}

/// The families obs-sqlx fills, pool gauges included, pass Prometheus's own lint.
#[tokio::test]
async fn the_exposition_passes_promtool() {
    let metrics = Metrics::new();
    // One connection: sqlx returns a connection to the pool in the background, so with more
    // the acquire below could open a second one and `used` would read 2.
    let pool = InstrumentedPool::builder(common::sqlite_memory(1).await, &metrics)
        .pool_name("sqlite")
        .build()
        .unwrap();
    sqlx::query("SELECT 1").fetch_one(&pool).await.unwrap();
    let _held = pool.acquire().await.unwrap();
    // sqlx returns the query's connection to the pool in the background: wait for it.
    let used = [
        ("db_client_connection_pool_name", "sqlite"),
        ("db_client_connection_state", "used"),
    ];
    let mut text = metrics.encode().unwrap();
    for _ in 0..100 {
        if Exposition::parse(&text)
            .unwrap()
            .value("db_client_connections", &used)
            == Some(1.0)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        text = metrics.encode().unwrap();
    }
    assert_eq!(
        Exposition::parse(&text)
            .unwrap()
            .value("db_client_connections", &used),
        Some(1.0),
        "{text}"
    );
    if let Err(complaints) = obs_testkit::promtool_check_metrics(&text).await {
        panic!("promtool check metrics:\n{complaints}\n{text}");
    }
}

/// The pool gauges count connections in use and the maximum; a pool name is held by one pool
/// at a time. (`query_text(false)` has its own test binary, `query_text_off.rs`.)
#[tokio::test]
async fn pool_gauges_and_one_pool_per_name() {
    let metrics = Metrics::new();
    let pool = InstrumentedPool::builder(common::sqlite_memory(2).await, &metrics)
        .pool_name("lite")
        .build()
        .unwrap();
    let conn = pool.acquire().await.unwrap();
    let text = metrics.encode().unwrap();
    assert!(
        text.contains(r#"db_client_connections{db_client_connection_pool_name="lite",db_client_connection_state="used"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"db_client_connection_max{db_client_connection_pool_name="lite"} 2"#));
    drop(conn);
    // A second pool of the same name is refused with an error naming the fix.
    let other = sqlx::sqlite::SqlitePoolOptions::new()
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let err = InstrumentedPool::builder(other.clone(), &metrics)
        .pool_name("lite")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("pool_name"), "{err}");
    // Dropping the pool frees its name.
    drop(pool);
    InstrumentedPool::builder(other, &metrics)
        .pool_name("lite")
        .build()
        .unwrap();
}

/// Caller-chosen names are label values, so they are bounded too: a thousand distinct
/// (operation, table) pairs, some longer than the limit, add at most
/// `MAX_NAMED_OPERATIONS` series plus the one they overflow into.
#[tokio::test]
async fn named_operations_are_bounded_per_pool() {
    use obs_core::names::{MAX_NAMED_OPERATIONS, MAX_OPERATION_NAME_LEN, OPERATION_OTHER};

    let metrics = Metrics::new();
    let pool = InstrumentedPool::builder(common::sqlite_memory(1).await, &metrics)
        .pool_name("named")
        .build()
        .unwrap();
    // A program that builds names at runtime and leaks them gets `&'static str`s too.
    let long: &'static str = Box::leak("x".repeat(MAX_OPERATION_NAME_LEN + 1).into_boxed_str());
    sqlx::query("SELECT 1")
        .execute(pool.named(long, "t"))
        .await
        .unwrap();
    for i in 0..1000 {
        let operation: &'static str = Box::leak(format!("op_{i}").into_boxed_str());
        let table: &'static str = Box::leak(format!("table_{}", i % 7).into_boxed_str());
        sqlx::query("SELECT 1")
            .execute(pool.named(operation, table))
            .await
            .unwrap();
    }
    let text = metrics.encode().unwrap();
    let exposition = Exposition::parse(&text).unwrap();
    let series: std::collections::HashSet<(String, String)> = exposition
        .series("db_client_operation_duration_seconds_count")
        .map(|s| {
            (
                s.label("db_operation_name").unwrap_or_default().to_owned(),
                s.label("db_collection_name").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        series.len() <= MAX_NAMED_OPERATIONS + 1,
        "{} series",
        series.len()
    );
    // The first pairs keep their names; the long one and those beyond the bound are `OTHER`.
    assert!(series.contains(&("op_0".to_owned(), "table_0".to_owned())));
    assert!(!series.iter().any(|(op, _)| op == long || op == "op_999"));
    let other = [
        ("db_system_name", "sqlite"),
        ("db_operation_name", OPERATION_OTHER),
        ("error_type", ""),
    ];
    assert_eq!(
        exposition.value_matching("db_client_operation_duration_seconds_count", &other),
        Some((1000 - MAX_NAMED_OPERATIONS + 1) as f64),
        "{text}"
    );
}
