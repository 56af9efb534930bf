//! The state every clone of an instrumented pool shares, and its connections and
//! transactions with it: [`PoolShared`] (the pool and what reports on it) and [`Shared`]
//! (what its statements record with).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use obs_core::DbClientMetrics;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Execute, Pool};

use crate::backend::{self, Endpoint};
use crate::call::Call;
use crate::collector::Registration;
use crate::instruments::{Entry, Instruments};
use crate::query::Captured;

/// The pool and its recording state, shared by the pool's clones, connections and
/// transactions, and read weakly by the pool collector.
pub(crate) struct PoolShared<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) shared: Shared,
    pub(crate) pool_name: String,
    pub(crate) _registration: Option<Registration>,
}

impl<DB: Database> PoolShared<DB> {
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

/// A caller-chosen operation and table, replacing what the summariser would derive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Override {
    pub(crate) operation: &'static str,
    pub(crate) collection: &'static str,
}

/// Everything one instrumented pool records with; not generic over the database, so the
/// executor code shares it between drivers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) system: &'static str,
    double_quoted_strings: bool,
    pub(crate) instruments: Instruments,
    /// Callers waiting in [`Shared::acquire`], read by the pool collector.
    pub(crate) pending: AtomicUsize,
    query_text: bool,
    pub(crate) endpoint: Endpoint,
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
            instruments: Instruments::new(db.clone(), &settings.pool_name, settings.cache_capacity),
            pending: AtomicUsize::new(0),
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
            None => self.instruments.statement(
                Captured::sql(&query),
                self.system,
                self.double_quoted_strings,
                self.query_text,
            ),
            Some(over) => {
                let over = self.instruments.named.admit(over);
                Arc::new(self.entry(over, Some(Captured::sql(&query))))
            }
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
        self.instruments
            .entry(self.system, over.operation, over.collection, text)
    }

    fn call(&self, entry: Arc<Entry>) -> Call<'_> {
        Call::start(self, entry)
    }

    /// Acquires a connection, recording the wait, the waiters and pool timeouts.
    pub(crate) async fn acquire<DB: Database>(
        &self,
        pool: &Pool<DB>,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        let _waiting = Waiting::new(&self.pending);
        let start = Instant::now();
        let result = pool.acquire().await;
        let pool_series = &self.instruments.pool;
        match &result {
            Ok(_) => pool_series
                .connection_wait_time
                .observe(start.elapsed().as_secs_f64()),
            Err(sqlx::Error::PoolTimedOut) => {
                pool_series
                    .connection_wait_time
                    .observe(start.elapsed().as_secs_f64());
                pool_series.connection_timeouts.inc();
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
