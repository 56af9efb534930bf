//! An instrumented [redis] connection: every command and pipeline records the
//! OpenTelemetry database client histogram and a client span.
//!
//! # Example
//!
//! The one-line swap: wrap the connection, then use it as before.
//!
//! ```no_run
//! use obs_redis::InstrumentedConnection;
//! use redis::AsyncCommands;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let metrics = obs_core::Metrics::new(); // or `telemetry.metrics()`
//!     let client = redis::Client::open("redis://127.0.0.1/")?;
//!     let conn = client.get_connection_manager().await?;
//!     let mut conn = InstrumentedConnection::builder(conn, &metrics) // the one line
//!         .connection_info(client.get_connection_info())
//!         .build()?;
//!
//!     let _: () = conn.set("greeting", "hello").await?;
//!     let (a, b): (String, Option<String>) =
//!         redis::pipe().get("greeting").get("other").query_async(&mut conn).await?;
//!     # drop((a, b));
//!     Ok(())
//! }
//! ```
//!
//! [`InstrumentedConnection`] implements [`redis::aio::ConnectionLike`] around any async
//! connection (`MultiplexedConnection`, `ConnectionManager`), so `redis::cmd`,
//! [`AsyncCommands`](redis::AsyncCommands) and pipelines work unchanged, and it is `Clone`
//! when the connection is. Errors are the unchanged [`redis::RedisError`].
//!
//! # Metrics
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | `db_client_operation_duration_seconds` | histogram | s | `db_system_name="redis"`, `db_operation_name`, `db_collection_name=""`, `error_type` |
//!
//! ## Label values
//!
//! Keys and values never become labels:
//!
//! - `db_operation_name`: the command, uppercase, from a built-in table of Redis commands
//!   (container commands such as `CLIENT` without their subcommand), else
//!   [`OPERATION_OTHER`](obs_core::names::OPERATION_OTHER), so a name a caller chooses
//!   (`redis::cmd("ANYTHING")`, a module command) adds no series; scripts are `EVAL`,
//!   `EVALSHA`, `FCALL`, whatever they run. A pipeline is [`OPERATION_PIPELINE`](obs_core::names::OPERATION_PIPELINE), or `PIPELINE GET` when all its
//!   commands agree; an atomic pipeline (`MULTI … EXEC`) is [`OPERATION_MULTI`](obs_core::names::OPERATION_MULTI).
//! - `error_type`: empty on success; `cancelled` when the future was dropped; the server's
//!   error code for error replies (`WRONGTYPE`, `ERR`, `NOSCRIPT`, … from a fixed list, else
//!   `_OTHER`, also for the codes a script chooses with `redis.error_reply`); `ConnectionRefused`, `Timeout`, `ConnectionDropped`; else the client error
//!   kind (`Io`, `Parse`, `UnexpectedReturnType`, …). A pipeline takes the code of its first
//!   failed command.
//!
//! # Spans
//!
//! Each command runs in an `INFO` span (target `obs_redis`), a child of the current span,
//! exported as a client span named after the operation (`GET`, `PIPELINE`) with
//! `db.system.name="redis"`, `db.operation.name`, `db.namespace` (the database index),
//! `server.address` and `server.port` (from
//! [`connection_info`](InstrumentedConnectionBuilder::connection_info)),
//! `db.operation.batch.size` for pipelines, and `error.type` with status `ERROR` on failure.
//! With [`query_text(true)`](InstrumentedConnectionBuilder::query_text), `db.query.text`
//! carries the command with every argument masked (`SET ? ?`).
//!
//! # Transactions
//!
//! An atomic pipeline records one `MULTI` operation for the whole `MULTI … EXEC` round trip.
//! `MULTI`, queued commands and `EXEC` sent one by one record one operation each.
//!
//! # Feature flags
//!
//! obs-redis has no feature flags; it enables redis's `tokio-comp` and `connection-manager`.
//!
//! [redis]: https://docs.rs/redis
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod call;
mod commands;
mod connection;
mod error;
mod error_type;
mod instruments;
mod mask;
mod operation;
mod shared;

pub use builder::{DEFAULT_QUERY_TEXT, InstrumentedConnectionBuilder};
pub use connection::InstrumentedConnection;
pub use error::Error;
