//! Instrumented [sqlx] pools, connections and transactions: every statement records the
//! OpenTelemetry database client histogram and a client span, and the pool reports its
//! connections to Prometheus.
//!
//! # Example
//!
//! The one-line swap: wrap the pool, then use `&pool` wherever `&Pool` went.
//!
//! ```no_run
//! use obs_sqlx::InstrumentedPool;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let metrics = obs_core::Metrics::new(); // or `telemetry.metrics()`
//!     let pool = sqlx::PgPool::connect("postgres://localhost/app").await?;
//!     let pool = InstrumentedPool::new(pool, &metrics)?; // the one line
//!
//!     let todos: Vec<(i64, String)> = sqlx::query_as("SELECT id, title FROM todos")
//!         .fetch_all(&pool)
//!         .await?;
//!
//!     let mut tx = pool.begin().await?;
//!     sqlx::query("UPDATE todos SET done = true WHERE id = $1")
//!         .bind(todos[0].0)
//!         .execute(tx.executor()) // or `&mut tx` with the `postgres` feature
//!         .await?;
//!     tx.commit().await?;
//!
//!     // Several pools in one registry need their own names.
//!     let replica = sqlx::PgPool::connect("postgres://replica/app").await?;
//!     let replica = InstrumentedPool::builder(replica, &metrics)
//!         .pool_name("replica")
//!         .query_text(false)
//!         .build()?;
//!     # drop(replica);
//!     Ok(())
//! }
//! ```
//!
//! `&InstrumentedPool` is a [`sqlx::Executor`] for every driver. `&mut` an
//! [`InstrumentedTransaction`] or [`InstrumentedConnection`] is one for the drivers enabled
//! through this crate's features; for any driver, `tx.executor()` and `conn.executor()` give
//! an [`InstrumentedExecutor`]. (A generic `&mut` impl would make sqlx's own
//! `for<'c> &'c mut DB::Connection: Executor<'c>` bounds overflow, which is why sqlx 0.9
//! dropped them for `Transaction` and `PoolConnection`.) Errors are the unchanged
//! [`sqlx::Error`].
//!
//! # Metrics
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | `db_client_operation_duration_seconds` | histogram | s | `db_system_name`, `db_operation_name`, `db_collection_name`, `error_type` |
//! | `db_client_connections` | gauge | connections | `db_client_connection_pool_name`, `db_client_connection_state` (`idle`, `used`) |
//! | `db_client_connection_max` | gauge | connections | `db_client_connection_pool_name` |
//! | `db_client_connection_pending_requests` | gauge | requests | `db_client_connection_pool_name` |
//! | `db_client_connection_wait_time_seconds` | histogram | s | `db_client_connection_pool_name` |
//! | `db_client_connection_timeouts_total` | counter | timeouts | `db_client_connection_pool_name` |
//!
//! The gauges are read from the pool at scrape time by a collector registered on
//! [`Metrics::registry`](obs_core::Metrics::registry); it is unregistered when the last clone
//! of the pool is dropped. Wait time, pending requests and timeouts cover
//! [`InstrumentedPool::acquire`], [`InstrumentedPool::begin`] and the connection each
//! statement on the pool takes.
//!
//! ## Label values
//!
//! Labels never carry SQL text, literals or user data:
//!
//! - `db_system_name`: `postgresql`, `sqlite`, `mysql` (MySQL and MariaDB), `other_sql`.
//! - `db_operation_name`: the statement's first verb from a fixed list (`SELECT`, `INSERT`,
//!   `UPDATE`, `DELETE`, `CREATE`, …; after a `WITH` the main statement's verb), `BEGIN`,
//!   `COMMIT`, `ROLLBACK`, `SAVEPOINT` for transaction control, or [`OPERATION_OTHER`](obs_core::names::OPERATION_OTHER).
//!   [`InstrumentedPool::named`] replaces it with a `&'static str` of your choice; a pool
//!   keeps at most [`MAX_NAMED_OPERATIONS`](obs_core::names::MAX_NAMED_OPERATIONS) (64)
//!   distinct (operation, table) pairs of such names, each name at most
//!   [`MAX_OPERATION_NAME_LEN`](obs_core::names::MAX_OPERATION_NAME_LEN) (64) bytes; further
//!   or longer ones are recorded as `OTHER` without a table.
//! - `db_collection_name`: the first table after `FROM`, `INTO`, `UPDATE`, `JOIN` or `TABLE`
//!   (schema-qualified as written, quotes removed, comments and literals skipped), empty when
//!   there is none. Tables come from the statement text the application wrote, so they are
//!   as bounded as its SQL.
//! - `error_type`: empty on success; `cancelled` when the future was dropped before it
//!   finished; the sqlx error variant (`RowNotFound`, `PoolTimedOut`, `Io`, …); for database
//!   errors the constraint kind (`unique_violation`, `foreign_key_violation`,
//!   `not_null_violation`, `check_violation`, `exclusion_violation`), else the SQLSTATE class
//!   (`42`, `40`, …) on PostgreSQL and MySQL, or the primary result code on SQLite.
//!
//! Summaries are cached per statement text, up to
//! [`statement_cache_capacity`](InstrumentedPoolBuilder::statement_cache_capacity) texts.
//!
//! A streaming `fetch` records once: when the stream ends or fails, or when it is dropped
//! (a success if it had yielded rows, the caller having read what it wanted, else
//! `cancelled`).
//!
//! # Spans
//!
//! Each statement runs in an `INFO` span (target `obs_sqlx`), a child of the current span,
//! that the OpenTelemetry layer of [`obs_core::Telemetry`] exports as a client span named
//! `{operation} {table}` (`SELECT todos`) with:
//!
//! | attribute | value |
//! |---|---|
//! | `db.system.name`, `db.operation.name`, `db.collection.name` | as the labels |
//! | `db.namespace` | the database name (SQLite: the file name) |
//! | `server.address`, `server.port` | the host and port connected to |
//! | `db.query.text` | the statement with string and numeric literals replaced by `?` and comments removed, at most [`MAX_QUERY_TEXT_LEN`] bytes (see [Query text](#query-text)); off with [`query_text(false)`](InstrumentedPoolBuilder::query_text) |
//! | `db.response.returned_rows`, `db.response.affected_rows` | rows fetched, rows changed |
//! | `error.type`, status `ERROR` | on failure, the `error_type` value |
//!
//! Namespace and server are read from the pool's connect options for the drivers enabled by
//! the features below, and can be set on the builder for any driver.
//!
//! ## Query text
//!
//! `db.query.text` keeps the shape of a statement and never its data. Every string literal
//! (`'…'`, `E'…'`, `N'…'`, `X'…'`, `B'…'`, `U&'…'`, `$tag$…$tag$`, MySQL's `"…"`), every
//! number and every comment (`--`, `/* */` nested as PostgreSQL nests them, MySQL's `#`) is
//! masked; keywords, identifiers and bind parameters stay. MySQL strings are read with their
//! backslash escapes. A literal, quoted identifier or comment that is never closed hides
//! everything after its start. Where PostgreSQL and SQLite read a statement differently
//! (`ARRAY['a']` against `[identifier]`, nested comments, `$name`), whatever either reads as a
//! literal or a comment is masked. A masked statement longer than [`MAX_QUERY_TEXT_LEN`]
//! bytes is cut on a character boundary and ends in `…`.
//!
//! # Transactions
//!
//! [`InstrumentedPool::begin`] records the wait for a connection and a `BEGIN` operation;
//! statements inside record as usual; [`InstrumentedTransaction::commit`] and
//! [`InstrumentedTransaction::rollback`] record `COMMIT` and `ROLLBACK`. A transaction
//! dropped without either is rolled back by sqlx the next time its connection is used; that
//! rollback is not recorded.
//!
//! # Feature flags
//!
//! | name | description | default? |
//! |---|---|---|
//! | `postgres` | sqlx's PostgreSQL driver; `&mut tx` / `&mut conn` executors, affected rows and endpoint for it | no |
//! | `sqlite` | the same for SQLite | no |
//! | `mysql` | the same for MySQL and MariaDB | no |
//!
//! [sqlx]: https://docs.rs/sqlx
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod builder;
mod call;
mod collector;
mod connection;
mod error;
mod error_type;
mod executor;
mod generator;
mod instruments;
mod lexer;
mod mask;
mod pool;
mod query;
mod shared;
mod summary;
mod transaction;

pub use builder::{
    DEFAULT_POOL_NAME, DEFAULT_QUERY_TEXT, DEFAULT_STATEMENT_CACHE_CAPACITY,
    InstrumentedPoolBuilder,
};
pub use connection::InstrumentedConnection;
pub use error::Error;
pub use executor::InstrumentedExecutor;
pub use mask::MAX_QUERY_TEXT_LEN;
pub use pool::InstrumentedPool;
pub use transaction::InstrumentedTransaction;
