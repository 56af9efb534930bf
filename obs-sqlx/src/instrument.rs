//! The state every wrapper of one pool shares, and [`Call`]: the record of one operation, which
//! lands in the histogram and the span exactly once, also when its future is dropped.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use obs_core::names::ERROR_TYPE_CANCELLED;
use obs_core::{DbClientMetrics, DbOperationLabels, DbPoolSeries};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Execute, Pool};
use tracing::Span;

use crate::backend::{self, Endpoint};
use crate::cache::{Entry, StatementCache};
use crate::error_type::error_type;
use crate::query::Captured;

/// A caller-chosen operation and table, replacing what the summariser would derive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Override {
    pub(crate) operation: &'static str,
    pub(crate) collection: &'static str,
}

/// Everything one instrumented pool records with.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) system: &'static str,
    double_quoted_strings: bool,
    db: DbClientMetrics,
    pool: DbPoolSeries,
    /// Callers waiting in [`Shared::acquire`], read by the pool collector.
    pub(crate) pending: AtomicUsize,
    cache: StatementCache,
    query_text: bool,
    endpoint: Endpoint,
}

/// How a [`Shared`] is configured.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) system: &'static str,
    pub(crate) pool_name: String,
    pub(crate) query_text: bool,
    pub(crate) cache_capacity: usize,
    pub(crate) endpoint: Endpoint,
}

impl Shared {
    pub(crate) fn new(db: &DbClientMetrics, settings: Settings) -> Self {
        Shared {
            system: settings.system,
            double_quoted_strings: backend::double_quoted_strings(settings.system),
            db: db.clone(),
            pool: db.pool(&settings.pool_name),
            pending: AtomicUsize::new(0),
            cache: StatementCache::new(settings.cache_capacity),
            query_text: settings.query_text,
            endpoint: settings.endpoint,
        }
    }

    /// Takes `query` apart and opens the record of running it.
    pub(crate) fn start<'q, DB: Database, E: Execute<'q, DB>>(
        &self,
        query: E,
        over: Option<Override>,
    ) -> (Captured<DB>, Call<'_>) {
        let query = Captured::new(query);
        let entry = match over {
            None => self.cache.get(
                Captured::sql(&query),
                &self.db,
                self.system,
                self.double_quoted_strings,
                self.query_text,
            ),
            Some(over) => Arc::new(self.entry(over, Some(Captured::sql(&query)))),
        };
        (query, self.call(entry))
    }

    /// Opens the record of an operation without statement text (`COMMIT`, `ROLLBACK`).
    pub(crate) fn start_operation(&self, operation: &'static str) -> Call<'_> {
        self.call(Arc::new(self.entry(
            Override {
                operation,
                collection: "",
            },
            None,
        )))
    }

    fn entry(&self, over: Override, sql: Option<&str>) -> Entry {
        let text = sql
            .filter(|_| self.query_text)
            .map(|sql| crate::mask::mask(sql, self.double_quoted_strings).into_boxed_str());
        Entry::new(&self.db, self.system, over.operation, over.collection, text)
    }

    fn call(&self, entry: Arc<Entry>) -> Call<'_> {
        let span = tracing::info_span!(
            target: "obs_sqlx",
            "db.query",
            otel.name = &*entry.span_name,
            otel.kind = "client",
            db.system.name = self.system,
            db.operation.name = entry.operation,
            db.collection.name = Some(&*entry.collection).filter(|c| !c.is_empty()),
            db.namespace = self.endpoint.namespace.as_deref(),
            server.address = self.endpoint.address.as_deref(),
            // Integers as i64: the OpenTelemetry bridge exports u64 as strings.
            server.port = self.endpoint.port.map(i64::from),
            db.query.text = entry.query_text.as_deref(),
            db.response.returned_rows = tracing::field::Empty,
            db.response.affected_rows = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        Call {
            shared: self,
            entry,
            span,
            start: Instant::now(),
            returned: 0,
            affected: None,
            streaming: false,
            done: false,
        }
    }

    /// Acquires a connection, recording the wait, the waiters and pool timeouts.
    pub(crate) async fn acquire<DB: Database>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        let _waiting = Waiting::new(&self.pending);
        let start = Instant::now();
        let result = pool.acquire().await;
        match &result {
            Ok(_) => self
                .pool
                .connection_wait_time
                .observe(start.elapsed().as_secs_f64()),
            Err(sqlx::Error::PoolTimedOut) => {
                self.pool
                    .connection_wait_time
                    .observe(start.elapsed().as_secs_f64());
                self.pool.connection_timeouts.inc();
            }
            Err(_) => {}
        }
        result
    }
}

/// Counts one caller waiting for a connection for as long as it lives.
#[derive(Debug)]
pub(crate) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(pending: &'a AtomicUsize) -> Self {
        pending.fetch_add(1, Ordering::Relaxed);
        Waiting(pending)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

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

impl Call<'_> {
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
        let seconds = self.start.elapsed().as_secs_f64();
        match &error {
            None => self.entry.ok.observe(seconds),
            Some(error_type) => self
                .shared
                .db
                .operation_duration(DbOperationLabels {
                    system: self.shared.system,
                    operation: self.entry.operation,
                    collection: &self.entry.collection,
                    error_type,
                })
                .observe(seconds),
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
