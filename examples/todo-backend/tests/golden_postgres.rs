//! What users see of obs, pinned: the example's `/metrics` exposition (metric names, label names
//! and values, histogram buckets) and its span names, kinds, statuses and attribute keys after one
//! fixed journey, compared with the files in `tests/golden/`. This file runs it on PostgreSQL + Redis; `golden_sqlite.rs` on the embedded
//! SQLite default.
//!
//! Any change to a name, a label or a bucket fails here. When the change is deliberate, rewrite
//! the files with `OBS_UPDATE_GOLDEN=1 cargo test -p todo-backend --test golden_sqlite --test
//! golden_postgres` and review the diff: it is what users' dashboards and queries see change.
//!
//! Each runs in a process of its own with the telemetry installed globally, as a service does:
//! a span whose last child ends on a thread the service does not own (SQLite's connection
//! threads) is closed through the global default subscriber.

#![allow(clippy::unwrap_used, missing_docs)]

mod golden_support;

use golden_support::{finish, telemetry};
use obs_testkit::OtlpCollector;

/// Another database system, the Redis command families and their spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_exposition_and_spans_are_unchanged() {
    use sqlx::Connection;
    const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
    // Redis database 8 is this test's own: it is flushed so no earlier run's keys answer.
    const REDIS: &str = "redis://127.0.0.1:6379/8";
    let Ok(mut admin) = sqlx::PgConnection::connect(ADMIN).await else {
        obs_testkit::require("PostgreSQL is not answering on 127.0.0.1:5432");
        return;
    };
    let Ok(mut redis) = redis::Client::open(REDIS)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
    else {
        obs_testkit::require("Redis is not answering on 127.0.0.1:6379");
        return;
    };
    let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
    let name = format!("todo_golden_{}", std::process::id());
    let drop_db = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();

    let collector = OtlpCollector::start_grpc().await;
    let telemetry = telemetry(&collector).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let exposition =
        golden_support::journey(golden_support::config(url, Some(REDIS.into())), &telemetry).await;
    sqlx::query(sqlx::AssertSqlSafe(drop_db))
        .execute(&mut admin)
        .await
        .unwrap();
    finish("postgres_redis", telemetry, &collector, &exposition).await;
}
