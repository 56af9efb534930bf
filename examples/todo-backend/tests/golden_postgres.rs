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
use obs_testkit::{OtlpCollector, PgDatabase};

/// Another database system, the Redis command families and their spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_exposition_and_spans_are_unchanged() {
    // Redis database 8 is this test's own: it is flushed so no earlier run's keys answer.
    let Some(redis) = obs_testkit::fresh_redis_db(8).await else {
        return;
    };
    let Some(database) = PgDatabase::create("todo_golden").await else {
        return;
    };

    let collector = OtlpCollector::start_grpc().await;
    let telemetry = telemetry(&collector).await;
    let config = golden_support::config(database.url().to_owned(), Some(redis));
    let exposition = golden_support::journey(config, &telemetry).await;
    database.drop_now().await.unwrap();
    finish("postgres_redis", telemetry, &collector, &exposition).await;
}
