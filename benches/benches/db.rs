//! Raw vs instrumented database clients in one run: `SELECT 1` on SQLite in-memory and on
//! PostgreSQL, `PING` and `GET` on Redis. Services that are not reachable are skipped.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use obs_core::Metrics;
use obs_redis::InstrumentedConnection;
use obs_sqlx::InstrumentedPool;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn sqlite(c: &mut Criterion) {
    let rt = runtime();
    let metrics = Metrics::new();
    let raw = rt.block_on(async {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    });
    let instrumented = InstrumentedPool::new(raw.clone(), &metrics).unwrap();
    let mut group = c.benchmark_group("sqlite_select_1");
    group.bench_function("raw", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query("SELECT 1").fetch_one(&raw).await.unwrap();
        })
    });
    group.bench_function("instrumented", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query("SELECT 1")
                .fetch_one(&instrumented)
                .await
                .unwrap();
        })
    });
    group.finish();
}

fn postgres(c: &mut Criterion) {
    let rt = runtime();
    let Ok(raw) = rt.block_on(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect("postgres://postgres@127.0.0.1:5432/test"),
    ) else {
        eprintln!("skipping postgres: not reachable");
        return;
    };
    let metrics = Metrics::new();
    let instrumented = InstrumentedPool::new(raw.clone(), &metrics).unwrap();
    let mut group = c.benchmark_group("postgres_select_1");
    group.bench_function("raw", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query("SELECT 1").fetch_one(&raw).await.unwrap();
        })
    });
    group.bench_function("instrumented", |b| {
        b.to_async(&rt).iter(|| async {
            sqlx::query("SELECT 1")
                .fetch_one(&instrumented)
                .await
                .unwrap();
        })
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let rt = runtime();
    let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
    let Ok(raw) = rt.block_on(client.get_multiplexed_async_connection()) else {
        eprintln!("skipping redis: not reachable");
        return;
    };
    let metrics = Metrics::new();
    let instrumented = InstrumentedConnection::new(raw.clone(), &metrics).unwrap();
    rt.block_on(async {
        let _: () = redis::cmd("SET")
            .arg("obs-bench:key")
            .arg("value")
            .query_async(&mut raw.clone())
            .await
            .unwrap();
    });
    for (name, cmd) in [
        ("redis_ping", redis::cmd("PING")),
        ("redis_get", {
            let mut get = redis::cmd("GET");
            get.arg("obs-bench:key");
            get
        }),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("raw", |b| {
            b.to_async(&rt).iter(|| {
                let mut conn = raw.clone();
                let cmd = &cmd;
                async move {
                    let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
                }
            })
        });
        group.bench_function("instrumented", |b| {
            b.to_async(&rt).iter(|| {
                let mut conn = instrumented.clone();
                let cmd = &cmd;
                async move {
                    let _: redis::Value = cmd.query_async(&mut conn).await.unwrap();
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, sqlite, postgres, redis);
criterion_main!(benches);
