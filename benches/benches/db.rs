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

/// Raw and instrumented calls alternated one by one, reported as medians: on a loaded
/// machine this resolves differences that separate criterion groups drown in drift.
fn paired(c: &mut Criterion) {
    let _ = c;
    let rt = runtime();
    let metrics = Metrics::new();
    const ROUNDS: usize = 4000;

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    }
    fn report(name: &str, raw: Vec<f64>, inst: Vec<f64>) {
        let diffs: Vec<f64> = raw.iter().zip(&inst).map(|(r, i)| i - r).collect();
        let (r, i, d) = (median(raw), median(inst), median(diffs));
        eprintln!(
            "paired {name}: raw {r:.0} ns, instrumented {i:.0} ns, median difference {d:+.0} ns ({:+.2}%)",
            100.0 * d / r
        );
    }

    rt.block_on(async {
        let lite = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let lite_i = InstrumentedPool::builder(lite.clone(), &metrics)
            .pool_name("paired-sqlite")
            .build()
            .unwrap();
        let pg = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect("postgres://postgres@127.0.0.1:5432/test")
            .await
            .ok();
        let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
        let redis = client.get_multiplexed_async_connection().await.ok();

        macro_rules! pair {
            ($name:expr, $raw:expr, $inst:expr) => {{
                let (mut raw, mut inst) = (Vec::new(), Vec::new());
                for round in 0..ROUNDS + 200 {
                    let t = std::time::Instant::now();
                    if round % 2 == 0 {
                        $raw;
                        let r = t.elapsed().as_nanos() as f64;
                        let t = std::time::Instant::now();
                        $inst;
                        if round >= 200 {
                            raw.push(r);
                            inst.push(t.elapsed().as_nanos() as f64);
                        }
                    } else {
                        $inst;
                        let i = t.elapsed().as_nanos() as f64;
                        let t = std::time::Instant::now();
                        $raw;
                        if round >= 200 {
                            inst.push(i);
                            raw.push(t.elapsed().as_nanos() as f64);
                        }
                    }
                }
                report($name, raw, inst);
            }};
        }

        pair!(
            "sqlite SELECT 1",
            sqlx::query("SELECT 1").fetch_one(&lite).await.unwrap(),
            sqlx::query("SELECT 1").fetch_one(&lite_i).await.unwrap()
        );
        if let Some(pg) = pg {
            let pg_i = InstrumentedPool::builder(pg.clone(), &metrics)
                .pool_name("paired-pg")
                .build()
                .unwrap();
            pair!(
                "postgres SELECT 1",
                sqlx::query("SELECT 1").fetch_one(&pg).await.unwrap(),
                sqlx::query("SELECT 1").fetch_one(&pg_i).await.unwrap()
            );
        }
        if let Some(conn) = redis {
            let mut raw_conn = conn.clone();
            let mut inst_conn = InstrumentedConnection::new(conn, &metrics).unwrap();
            let ping = redis::cmd("PING");
            let mut get = redis::cmd("GET");
            get.arg("obs-bench:key");
            pair!(
                "redis PING",
                ping.query_async::<redis::Value>(&mut raw_conn)
                    .await
                    .unwrap(),
                ping.query_async::<redis::Value>(&mut inst_conn)
                    .await
                    .unwrap()
            );
            pair!(
                "redis GET",
                get.query_async::<redis::Value>(&mut raw_conn)
                    .await
                    .unwrap(),
                get.query_async::<redis::Value>(&mut inst_conn)
                    .await
                    .unwrap()
            );
        }
    });
}

criterion_group!(benches, sqlite, postgres, redis, paired);
criterion_main!(benches);
