//! Real protocol peers and shared test code for obs.
//!
//! - [`OtlpCollector`]: an OTLP trace receiver over gRPC (tonic, from `opentelemetry-proto`)
//!   or HTTP/protobuf, plain or over TLS, recording every span it is sent.
//! - [`TestCa`]: a private certificate authority and the server and client certificates it
//!   signed, for testing clients against a collector no public root trusts, or one that
//!   requires a client certificate (mutual TLS).
//! - [`LokiReceiver`]: Loki's push endpoint (`/loki/api/v1/push`, snappy + protobuf).
//! - [`MemoryCgroup`]: runs a process under a memory limit, as a container would.
//! - [`Exposition`]: a Prometheus text exposition parsed into samples, looked up by exact name
//!   and labels.
//! - [`LogCapture`]: log lines kept in memory for a subscriber to write to.
//! - [`unique`]: names no other test or run uses.
//! - [`run_test_in_child`]: one test of the current binary in a process of its own, for
//!   settings read from the process environment.
//! - `PgDatabase` (feature `postgres`) and [`fresh_redis_db`]: databases of a test's own on
//!   the local PostgreSQL and Redis.
//! - [`require`] and [`binary`]: tests that need a service or an external binary skip on a
//!   laptop without it and fail when `OBS_TEST_REQUIRE=1`, as CI sets.
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `postgres` | `PgDatabase`: a database of a test's own on the local PostgreSQL, through sqlx | no |

mod cgroup;
mod child;
mod exposition;
mod external;
mod logs;
mod loki;
mod names;
mod otlp;
#[cfg(feature = "postgres")]
mod postgres;
mod redis;
mod tls;

pub use cgroup::{MOVE_AND_EXEC, MemoryCgroup};
pub use child::run_test_in_child;
pub use exposition::{Exemplar, Exposition, ExpositionError, Sample};
pub use external::{Skip, binary, promtool_check_metrics, require, required};
pub use logs::{LogCapture, LogWriter};
pub use loki::{LokiEntry, LokiReceiver};
pub use names::unique;
pub use otlp::{OtlpCollector, ReceivedSpan, RequestHeaders};
#[cfg(feature = "postgres")]
pub use postgres::{PG_ADMIN_URL, PgDatabase};
pub use redis::{REDIS_ADDRESS, fresh_redis_db};
pub use tls::TestCa;
