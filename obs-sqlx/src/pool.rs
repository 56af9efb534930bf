//! [`InstrumentedPool`]: a pool that records every statement it runs.

use std::fmt;
use std::sync::Arc;

use obs_core::Metrics;
use obs_core::names::OPERATION_BEGIN;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use tracing::Instrument;

use crate::builder::InstrumentedPoolBuilder;
use crate::connection::InstrumentedConnection;
use crate::error::Error;
use crate::executor::{InstrumentedExecutor, Source, impl_executor};
use crate::shared::{PoolShared, Shared};
use crate::transaction::InstrumentedTransaction;

/// A [`sqlx::Pool`] that records every statement it runs.
///
/// `&InstrumentedPool<DB>` is a [`sqlx::Executor`], so it goes wherever `&Pool<DB>` went:
/// `sqlx::query(..).fetch_all(&pool)`. Cloning is cheap and shares the pool and its metrics.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let metrics = obs_core::Metrics::new();
/// let pool = sqlx::PgPool::connect("postgres://localhost/app").await?;
/// let pool = obs_sqlx::InstrumentedPool::new(pool, &metrics)?;
///
/// let titles: Vec<(String,)> = sqlx::query_as("SELECT title FROM todos")
///     .fetch_all(&pool)
///     .await?;
/// # Ok(()) }
/// ```
pub struct InstrumentedPool<DB: Database> {
    inner: Arc<PoolShared<DB>>,
}

impl<DB: Database> InstrumentedPool<DB> {
    /// Instruments `pool` with the defaults, recording into `metrics`.
    ///
    /// # Errors
    /// When the metrics cannot be registered (see [`Error`]); a second pool in the same
    /// registry needs its own [`pool_name`](InstrumentedPoolBuilder::pool_name).
    pub fn new(pool: Pool<DB>, metrics: &Metrics) -> Result<Self, Error> {
        Self::builder(pool, metrics).build()
    }

    /// A builder to name the pool and choose what spans carry.
    pub fn builder(pool: Pool<DB>, metrics: &Metrics) -> InstrumentedPoolBuilder<DB> {
        InstrumentedPoolBuilder::new(pool, metrics)
    }

    pub(crate) fn from_shared(inner: Arc<PoolShared<DB>>) -> Self {
        InstrumentedPool { inner }
    }

    /// The wrapped pool. Statements run on it directly are not recorded.
    pub fn inner(&self) -> &Pool<DB> {
        &self.inner.pool
    }

    /// The name this pool reports its connection metrics under.
    pub fn pool_name(&self) -> &str {
        &self.inner.pool_name
    }

    /// Acquires a connection, recording the wait in `db_client_connection_wait_time_seconds`
    /// (and a pool timeout in `db_client_connection_timeouts_total`).
    ///
    /// # Errors
    /// The [`sqlx::Error`] of [`Pool::acquire`], unchanged.
    pub async fn acquire(&self) -> Result<InstrumentedConnection<DB>, sqlx::Error> {
        let conn = self.inner.shared.acquire(&self.inner.pool).await?;
        Ok(InstrumentedConnection::new(conn, Arc::clone(&self.inner)))
    }

    /// Acquires a connection and begins a transaction, recorded as a `BEGIN` operation.
    ///
    /// # Errors
    /// The [`sqlx::Error`] of [`Pool::begin`], unchanged.
    pub async fn begin(&self) -> Result<InstrumentedTransaction<'static, DB>, sqlx::Error> {
        let conn: PoolConnection<DB> = self.inner.shared.acquire(&self.inner.pool).await?;
        let mut call = self.inner.shared.start_operation(OPERATION_BEGIN);
        let span = call.span().clone();
        // `Transaction::begin` is how sqlx itself turns a pooled connection into an owned
        // transaction; going through it lets the wait above be measured on its own.
        let result = sqlx::Transaction::begin(conn, None).instrument(span).await;
        call.finish(result.as_ref().err());
        drop(call);
        Ok(InstrumentedTransaction::new(
            result?,
            Arc::clone(&self.inner),
        ))
    }

    /// An executor that records its statements under `operation` and `collection` instead of
    /// what the summariser derives from the SQL text.
    ///
    /// Both are `&'static str` so the label values stay a fixed set; pass `""` for no table.
    /// Each pool records at most
    /// [`MAX_NAMED_OPERATIONS`](obs_core::names::MAX_NAMED_OPERATIONS) distinct pairs (the
    /// first it sees), names of at most
    /// [`MAX_OPERATION_NAME_LEN`](obs_core::names::MAX_OPERATION_NAME_LEN) bytes; others are
    /// recorded as `OTHER` without a table, so leaked or generated names stay bounded too.
    ///
    /// ```no_run
    /// # async fn run(pool: obs_sqlx::InstrumentedPool<sqlx::Postgres>) -> sqlx::Result<()> {
    /// sqlx::query("SELECT refresh_leaderboard()")
    ///     .execute(pool.named("refresh_leaderboard", "leaderboard"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn named(
        &self,
        operation: &'static str,
        collection: &'static str,
    ) -> InstrumentedExecutor<'_, DB> {
        let (source, shared) = self.parts();
        InstrumentedExecutor::new(source, shared).named(operation, collection)
    }

    pub(crate) fn parts(&self) -> (Source<'_, DB>, &Shared) {
        (Source::Pool(&self.inner.pool), &self.inner.shared)
    }
}

impl<DB: Database> Clone for InstrumentedPool<DB> {
    fn clone(&self) -> Self {
        InstrumentedPool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: Database> fmt::Debug for InstrumentedPool<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedPool")
            .field("pool", &self.inner.pool)
            .field("pool_name", &self.inner.pool_name)
            .finish_non_exhaustive()
    }
}

impl_executor!(['x, DB] &'x InstrumentedPool<DB>, DB, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
