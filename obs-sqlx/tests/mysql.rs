//! MySQL / MariaDB through the instrumented pool.

#![allow(clippy::unwrap_used)]

mod common;

use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;

const URL: &str = "mysql://root@127.0.0.1:3306/test";

async fn connect() -> Option<sqlx::MySqlPool> {
    match sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(URL)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => {
            obs_testkit::require(format!("MySQL/MariaDB at {URL} is not reachable: {e}"));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_land_with_their_labels() {
    let Some(raw) = connect().await else { return };
    let metrics = Metrics::new();
    let pool = InstrumentedPool::builder(raw, &metrics)
        .pool_name("mysql")
        .build()
        .unwrap();
    common::scenario(pool, &metrics, "mysql").await;
}
