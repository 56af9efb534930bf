//! The database: SQLite by default, PostgreSQL when `DATABASE_URL` says so, both through
//! obs-sqlx. Every query is written once in portable SQL (`$1` placeholders work in both).

use std::str::FromStr;
use std::time::Duration;

use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Postgres, Sqlite};

use crate::config::Config;

/// One of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded default.
    Sqlite(InstrumentedPool<Sqlite>),
    /// `DATABASE_URL=postgres://...`.
    Postgres(InstrumentedPool<Postgres>),
}

/// Runs `$body` with `$pool` bound to the concrete pool, whichever database is in use.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Connecting or migrating failed.
    #[error("database: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Instrumenting the pool failed.
    #[error("instrumenting the pool: {0}")]
    Obs(#[from] obs_sqlx::Error),
    /// The SQLite data directory could not be created.
    #[error("creating the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
}

impl Db {
    /// Opens the pool, creating the SQLite file and applying migrations as needed.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(config: &Config, metrics: &Metrics) -> Result<Self, DbError> {
        let acquire_timeout = Duration::from_secs(5);
        if config.is_sqlite() {
            let options = SqliteConnectOptions::from_str(&config.database_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let path = options.get_filename();
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DbError::DataDir(dir.display().to_string(), e))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(config.db_max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            SQLITE_MIGRATIONS.run(&pool).await?;
            let pool = InstrumentedPool::builder(pool, metrics)
                .pool_name("main")
                .namespace("todo")
                .build()?;
            Ok(Db::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(&config.database_url)?;
            let host = options.get_host().to_owned();
            let port = options.get_port();
            let database = options.get_database().unwrap_or("postgres").to_owned();
            let pool = PgPoolOptions::new()
                .max_connections(config.db_max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            POSTGRES_MIGRATIONS.run(&pool).await?;
            let pool = InstrumentedPool::builder(pool, metrics)
                .pool_name("main")
                .namespace(database)
                .server_address(host)
                .server_port(port)
                .build()?;
            Ok(Db::Postgres(pool))
        }
    }

    /// The `db.system.name` in use, for logs.
    pub fn system(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgresql",
        }
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// A query that really takes `ms` milliseconds in the database (fault injection).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn slow_query(&self, ms: u64) -> Result<(), sqlx::Error> {
        match self {
            Db::Postgres(pool) => {
                sqlx::query("SELECT pg_sleep($1)")
                    .bind(ms as f64 / 1000.0)
                    .execute(pool)
                    .await?;
            }
            Db::Sqlite(pool) => {
                // SQLite has no sleep: count up in a recursive CTE, about 10k rows per ms.
                sqlx::query(
                    "WITH RECURSIVE spin(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM spin \
                     WHERE x < $1) SELECT count(*) FROM spin",
                )
                .bind(i64::try_from(ms.saturating_mul(10_000)).unwrap_or(i64::MAX))
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }
}
