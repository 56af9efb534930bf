//! [`Call`]: the record of one command or pipeline, which lands in the histogram and the span
//! exactly once, also when its future is dropped.

use std::time::Instant;

use obs_core::names::{DB_SYSTEM_REDIS, ERROR_TYPE_CANCELLED};
use tracing::Span;

use crate::operation::Operation;
use crate::shared::Shared;

/// The record of one command or pipeline; dropped unfinished, it records a cancellation.
pub(crate) struct Call<'a> {
    shared: &'a Shared,
    op: Operation,
    pub(crate) span: Span,
    start: Instant,
    done: bool,
}

impl<'a> Call<'a> {
    /// Opens the record of `op` on database `db`; `text` is its `db.query.text`, built only
    /// when query text is on and the span is recorded.
    pub(crate) fn start(
        shared: &'a Shared,
        op: Operation,
        db: i64,
        text: impl FnOnce() -> String,
    ) -> Self {
        let name = op.name();
        let span = tracing::info_span!(
            target: "obs_redis",
            "redis.command",
            otel.name = name,
            otel.kind = "client",
            db.system.name = DB_SYSTEM_REDIS,
            db.operation.name = name,
            db.namespace = db,
            server.address = shared.address.as_deref(),
            // Integers as i64: the OpenTelemetry bridge exports u64 as strings.
            server.port = shared.port.map(i64::from),
            db.query.text = tracing::field::Empty,
            db.operation.batch.size = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if shared.query_text && !span.is_disabled() {
            span.record("db.query.text", text());
        }
        Call {
            shared,
            op,
            span,
            start: Instant::now(),
            done: false,
        }
    }

    /// Records the outcome: `error` is the `error_type` of a failure. Later calls do nothing.
    pub(crate) fn finish(&mut self, error: Option<&'static str>) {
        if self.done {
            return;
        }
        self.done = true;
        // One clock read for the duration and the exemplar's timestamp.
        let now = Instant::now();
        let seconds = now.saturating_duration_since(self.start).as_secs_f64();
        let sampled = obs_core::SampledSpan::of(&self.span);
        self.shared
            .instruments
            .observe(self.op, error, seconds, sampled, now);
        if let Some(error) = error {
            self.span.record("error.type", error);
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.finish(Some(ERROR_TYPE_CANCELLED));
    }
}
