//! Real protocol peers for obs tests.
//!
//! - [`OtlpCollector`]: an OTLP trace receiver over gRPC (tonic, from `opentelemetry-proto`)
//!   or HTTP/protobuf, plain or over TLS, recording every span it is sent.
//! - [`TestCa`]: a private certificate authority and a server certificate it signed, for
//!   testing clients against a collector no public root trusts.
//! - [`LokiReceiver`]: Loki's push endpoint (`/loki/api/v1/push`, snappy + protobuf).
//! - [`MemoryCgroup`]: runs a process under a memory limit, as a container would.
//! - [`require`] and [`binary`]: tests that need a service or an external binary skip on a
//!   laptop without it and fail when `OBS_TEST_REQUIRE=1`, as CI sets.

mod cgroup;
mod external;
mod loki;
mod otlp;
mod tls;

pub use cgroup::{MOVE_AND_EXEC, MemoryCgroup};
pub use external::{Skip, binary, promtool_check_metrics, require, required};
pub use loki::{LokiEntry, LokiReceiver};
pub use otlp::{OtlpCollector, ReceivedSpan, RequestHeaders};
pub use tls::TestCa;
