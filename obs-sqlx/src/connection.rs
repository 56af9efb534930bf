//! [`InstrumentedConnection`]: a pooled connection that records its statements.

use std::fmt;
use std::sync::Arc;

use obs_core::names::OPERATION_BEGIN;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Transaction};
use tracing::Instrument;

#[allow(unused_imports)]
use crate::executor::impl_executor;
use crate::executor::{InstrumentedExecutor, Source};
use crate::shared::{PoolShared, Shared};
use crate::transaction::InstrumentedTransaction;

/// A connection from [`InstrumentedPool::acquire`](crate::InstrumentedPool::acquire).
///
/// `&mut InstrumentedConnection<DB>` is a [`sqlx::Executor`]: where code wrote
/// `&mut *conn` for a [`PoolConnection`], write `&mut conn`. The connection returns to the
/// pool when dropped.
pub struct InstrumentedConnection<DB: Database> {
    conn: PoolConnection<DB>,
    handle: Arc<PoolShared<DB>>,
}

impl<DB: Database> InstrumentedConnection<DB> {
    pub(crate) fn new(conn: PoolConnection<DB>, handle: Arc<PoolShared<DB>>) -> Self {
        InstrumentedConnection { conn, handle }
    }

    /// The wrapped connection. Statements run on it directly are not recorded.
    pub fn inner_mut(&mut self) -> &mut PoolConnection<DB> {
        &mut self.conn
    }

    /// Unwraps the pooled connection.
    pub fn into_inner(self) -> PoolConnection<DB> {
        self.conn
    }

    /// Begins a transaction on this connection, recorded as a `BEGIN` operation.
    ///
    /// # Errors
    /// The [`sqlx::Error`] of beginning, unchanged.
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error> {
        let mut call = self.handle.shared().start_operation(OPERATION_BEGIN);
        let span = call.span().clone();
        let result = Transaction::begin(&mut *self.conn, None)
            .instrument(span)
            .await;
        call.finish(result.as_ref().err());
        drop(call);
        Ok(InstrumentedTransaction::new(
            result?,
            Arc::clone(&self.handle),
        ))
    }

    /// An executor recording under a caller-chosen operation and table; see
    /// [`InstrumentedPool::named`](crate::InstrumentedPool::named).
    pub fn named(
        &mut self,
        operation: &'static str,
        collection: &'static str,
    ) -> InstrumentedExecutor<'_, DB> {
        self.executor().named(operation, collection)
    }

    /// An executor running on this connection; what `&mut self` is for the drivers enabled
    /// by this crate's features, for any driver.
    pub fn executor(&mut self) -> InstrumentedExecutor<'_, DB> {
        let (source, shared) = self.parts();
        InstrumentedExecutor::new(source, shared)
    }

    pub(crate) fn parts(&mut self) -> (Source<'_, DB>, &Shared) {
        (Source::Connection(&mut *self.conn), self.handle.shared())
    }
}

impl<DB: Database> fmt::Debug for InstrumentedConnection<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnection")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

// `&mut` wrappers are executors only for concrete drivers: a generic impl would make every
// `for<'c> &'c mut DB::Connection: Executor<'c>` bound overflow (why sqlx 0.9 dropped the
// `Executor` impls of `Transaction` and `PoolConnection`).
#[cfg(feature = "postgres")]
impl_executor!(['x] &'x mut InstrumentedConnection<sqlx::Postgres>, sqlx::Postgres, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
#[cfg(feature = "sqlite")]
impl_executor!(['x] &'x mut InstrumentedConnection<sqlx::Sqlite>, sqlx::Sqlite, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
#[cfg(feature = "mysql")]
impl_executor!(['x] &'x mut InstrumentedConnection<sqlx::MySql>, sqlx::MySql, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
