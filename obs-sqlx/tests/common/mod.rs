//! Helpers shared by the backend tests: label lookups and one scenario run on every backend.

#![allow(dead_code)]

use futures_util::StreamExt;
use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;
use sqlx::{AssertSqlSafe, Database, Executor, IntoArguments};

/// An in-memory SQLite pool of at most `max` connections.
pub(crate) async fn sqlite_memory(max: u32) -> sqlx::SqlitePool {
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(max)
        .connect("sqlite::memory:")
        .await
        .unwrap()
}

/// Samples in `db_client_operation_duration_seconds` with these labels.
pub(crate) fn count(metrics: &Metrics, system: &str, op: &str, table: &str, error: &str) -> u64 {
    metrics
        .db_client()
        .unwrap()
        .operation_duration(obs_core::DbOperationLabels {
            system,
            operation: op,
            collection: table,
            error_type: error,
        })
        .get_sample_count()
}

/// Runs `sql` through the instrumented pool, built at runtime.
fn q<DB: Database>(sql: String) -> sqlx::query::Query<'static, DB, <DB as Database>::Arguments>
where
    <DB as Database>::Arguments: IntoArguments<DB>,
{
    sqlx::query(AssertSqlSafe(sql))
}

/// CRUD, a unique violation, commit and rollback, a dropped stream and concurrent use, with
/// the label counts checked after each step.
pub(crate) async fn scenario<DB>(pool: InstrumentedPool<DB>, metrics: &Metrics, system: &str)
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let t = obs_testkit::unique("obs_t");
    let c = |op: &str, err: &str| count(metrics, system, op, &t, err);

    q::<DB>(format!(
        "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(c("CREATE", ""), 1);

    for id in 1..=5 {
        let done = q::<DB>(format!("INSERT INTO {t} (id, name) VALUES ({id}, 'n{id}')"))
            .execute(&pool)
            .await
            .unwrap();
        drop(done);
    }
    assert_eq!(c("INSERT", ""), 5);

    let rows = q::<DB>(format!("SELECT id, name FROM {t} ORDER BY id"))
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    let one = q::<DB>(format!("SELECT name FROM {t} WHERE id = 2"))
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert!(one.is_some());
    let missing = q::<DB>(format!("SELECT name FROM {t} WHERE id = 999"))
        .fetch_one(&pool)
        .await;
    assert!(matches!(missing, Err(sqlx::Error::RowNotFound)));
    assert_eq!(c("SELECT", ""), 2);
    assert_eq!(c("SELECT", "RowNotFound"), 1);

    q::<DB>(format!("UPDATE {t} SET name = 'x' WHERE id = 1"))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(c("UPDATE", ""), 1);
    q::<DB>(format!("DELETE FROM {t} WHERE id = 5"))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(c("DELETE", ""), 1);

    // A unique violation: the sqlx error passes through unchanged and lands with its kind.
    let dup = q::<DB>(format!("INSERT INTO {t} (id, name) VALUES (1, 'dup')"))
        .execute(&pool)
        .await
        .err()
        .unwrap();
    assert!(matches!(dup, sqlx::Error::Database(_)), "{dup:?}");
    assert_eq!(c("INSERT", "unique_violation"), 1);

    // Transactions: statements inside, then commit or rollback, each recorded.
    let begins = count(metrics, system, "BEGIN", "", "");
    let commits = count(metrics, system, "COMMIT", "", "");
    let rollbacks = count(metrics, system, "ROLLBACK", "", "");
    let mut tx = pool.begin().await.unwrap();
    q::<DB>(format!("INSERT INTO {t} (id, name) VALUES (10, 'tx')"))
        .execute(tx.executor())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    q::<DB>(format!("INSERT INTO {t} (id, name) VALUES (11, 'gone')"))
        .execute(tx.executor())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(metrics, system, "BEGIN", "", ""), begins + 2);
    assert_eq!(count(metrics, system, "COMMIT", "", ""), commits + 1);
    assert_eq!(count(metrics, system, "ROLLBACK", "", ""), rollbacks + 1);
    assert_eq!(c("INSERT", ""), 7);
    let kept = q::<DB>(format!("SELECT id FROM {t} WHERE id = 10"))
        .fetch_optional(&pool)
        .await
        .unwrap();
    let rolled_back = q::<DB>(format!("SELECT id FROM {t} WHERE id = 11"))
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert!(kept.is_some() && rolled_back.is_none());

    // A connection from `acquire` is an executor too.
    let mut conn = pool.acquire().await.unwrap();
    q::<DB>(format!("SELECT id FROM {t}"))
        .fetch_all(conn.executor())
        .await
        .unwrap();
    drop(conn);

    // A stream dropped half way records exactly once, as a success.
    let before = c("SELECT", "");
    {
        let query = q::<DB>(format!("SELECT id FROM {t} ORDER BY id"));
        let mut rows = query.fetch(&pool);
        assert!(rows.next().await.unwrap().is_ok());
        assert!(rows.next().await.unwrap().is_ok());
    }
    assert_eq!(c("SELECT", ""), before + 1);
    assert_eq!(c("SELECT", "cancelled"), 0);
    // A stream read to the end records once.
    let all: Vec<_> = q::<DB>(format!("SELECT id FROM {t}"))
        .fetch(&pool)
        .collect()
        .await;
    assert_eq!(all.len(), 5);
    assert_eq!(c("SELECT", ""), before + 2);

    // A future dropped before it finished records a cancellation. With every connection
    // held, the statement is certain to still be waiting when it is dropped.
    {
        let max = pool.inner().options().get_max_connections();
        let mut held = Vec::new();
        for _ in 0..max {
            held.push(pool.acquire().await.unwrap());
        }
        let query = q::<DB>(format!("SELECT id FROM {t}"));
        let fut = Box::pin(Executor::fetch_all(&pool, query));
        assert!(futures_util::FutureExt::now_or_never(fut).is_none());
    }
    assert_eq!(c("SELECT", "cancelled"), 1);

    // Overriding the summary.
    q::<DB>(format!("SELECT count(*) FROM {t}"))
        .fetch_one(pool.named("count_rows", "todo_counts"))
        .await
        .unwrap();
    assert_eq!(count(metrics, system, "count_rows", "todo_counts", ""), 1);

    // Many tasks at once: every statement counted exactly once.
    let before = c("SELECT", "");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let pool = pool.clone();
            let sql = format!("SELECT name FROM {t} WHERE id = 2");
            tokio::spawn(async move {
                for _ in 0..5 {
                    q::<DB>(sql.clone()).fetch_one(&pool).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(c("SELECT", ""), before + 100);

    q::<DB>(format!("DROP TABLE {t}"))
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(c("DROP", ""), 1);
}
