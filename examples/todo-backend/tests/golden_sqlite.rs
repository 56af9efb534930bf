//! What users see of obs, pinned: the example's `/metrics` exposition (metric names, label names
//! and values, histogram buckets) and its span names, kinds, statuses and attribute keys after one
//! fixed journey, compared with the files in `tests/golden/`. This file runs it on the embedded SQLite default; `golden_postgres.rs` on PostgreSQL +
//! Redis.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_exposition_and_spans_are_unchanged() {
    let collector = OtlpCollector::start_grpc().await;
    let telemetry = telemetry(&collector).await;
    let dir = std::env::temp_dir().join(format!("todo-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("todo.db").display());
    let exposition = golden_support::journey(golden_support::config(url, None), &telemetry).await;
    let _ = std::fs::remove_dir_all(dir);
    finish("sqlite", telemetry, &collector, &exposition).await;
}
