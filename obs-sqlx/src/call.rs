//! [`Call`]: the record of one operation, which lands in the histogram and the span exactly
//! once, also when its future is dropped.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use obs_core::names::ERROR_TYPE_CANCELLED;
use sqlx::Database;
use tracing::Span;

use crate::backend;
use crate::error_type::error_type;
use crate::instruments::Entry;
use crate::shared::Shared;

/// The record of one operation: its duration, rows and outcome.
///
/// Finished explicitly with [`Call::finish`]; dropped unfinished, it records a cancellation
/// (or, for a stream the caller stopped reading after some rows, a success).
#[derive(Debug)]
pub(crate) struct Call<'a> {
    shared: &'a Shared,
    entry: Arc<Entry>,
    span: Span,
    start: Instant,
    returned: u64,
    affected: Option<u64>,
    streaming: bool,
    done: bool,
}

impl<'a> Call<'a> {
    /// Opens the record of the statement `entry` describes, in a new span.
    pub(crate) fn start(shared: &'a Shared, entry: Arc<Entry>) -> Self {
        let span = tracing::info_span!(
            target: "obs_sqlx",
            "db.query",
            otel.name = &*entry.span_name,
            otel.kind = "client",
            db.system.name = shared.system,
            db.operation.name = entry.operation,
            db.collection.name = Some(&*entry.collection).filter(|c| !c.is_empty()),
            db.namespace = shared.endpoint.namespace.as_deref(),
            server.address = shared.endpoint.address.as_deref(),
            // Integers as i64: the OpenTelemetry bridge exports u64 as strings.
            server.port = shared.endpoint.port.map(i64::from),
            db.query.text = entry.query_text.as_deref(),
            db.response.returned_rows = tracing::field::Empty,
            db.response.affected_rows = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        Call {
            shared,
            entry,
            span,
            start: Instant::now(),
            returned: 0,
            affected: None,
            streaming: false,
            done: false,
        }
    }

    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Marks this call as a stream, so a drop after some rows is not a cancellation.
    pub(crate) fn streaming(&mut self) {
        self.streaming = true;
    }

    pub(crate) fn add_returned(&mut self, rows: u64) {
        self.returned += rows;
    }

    pub(crate) fn add_affected<DB: Database>(&mut self, result: &DB::QueryResult) {
        if let Some(rows) = backend::rows_affected::<DB>(result) {
            *self.affected.get_or_insert(0) += rows;
        }
    }

    /// Records the outcome; later calls do nothing.
    pub(crate) fn finish(&mut self, error: Option<&sqlx::Error>) {
        let error = error.map(|e| error_type(e, self.shared.system));
        self.record(error);
    }

    fn record(&mut self, error: Option<Cow<'static, str>>) {
        if self.done {
            return;
        }
        self.done = true;
        // One clock read for the duration and the exemplar's timestamp.
        let now = Instant::now();
        let seconds = now.saturating_duration_since(self.start).as_secs_f64();
        let sampled = obs_core::SampledSpan::of(&self.span);
        match &error {
            None => self
                .entry
                .ok
                .observe_with_exemplar_at(seconds, sampled, now),
            Some(error_type) => self
                .shared
                .instruments
                .failed(self.shared.system, &self.entry, error_type)
                .observe_with_exemplar_at(seconds, sampled, now),
        }
        if self.span.is_disabled() {
            return;
        }
        if self.returned > 0 || self.affected.is_none() {
            self.span
                .record("db.response.returned_rows", saturating_i64(self.returned));
        }
        if let Some(affected) = self.affected {
            self.span
                .record("db.response.affected_rows", saturating_i64(affected));
        }
        if let Some(error_type) = &error {
            self.span.record("error.type", &**error_type);
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.streaming && self.returned > 0 {
            // The caller read what it wanted and dropped the rest: not a failure.
            self.record(None);
        } else {
            self.record(Some(Cow::Borrowed(ERROR_TYPE_CANCELLED)));
        }
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
