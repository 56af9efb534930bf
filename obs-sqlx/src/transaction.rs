//! [`InstrumentedTransaction`]: a transaction that records its statements, commit and
//! rollback.

use std::fmt;
use std::sync::Arc;

use obs_core::names::{OPERATION_COMMIT, OPERATION_ROLLBACK, OPERATION_SAVEPOINT};
use sqlx::{Database, Transaction};
use tracing::Instrument;

#[allow(unused_imports)]
use crate::executor::impl_executor;
use crate::executor::{InstrumentedExecutor, Source};
use crate::shared::{PoolShared, Shared};

/// A transaction from [`InstrumentedPool::begin`](crate::InstrumentedPool::begin).
///
/// `&mut InstrumentedTransaction<DB>` is a [`sqlx::Executor`]: where code wrote `&mut *tx`
/// for a [`Transaction`], write `&mut tx`. [`commit`](Self::commit) and
/// [`rollback`](Self::rollback) are recorded as `COMMIT` and `ROLLBACK` operations.
///
/// A transaction dropped without either is rolled back by sqlx the next time its connection
/// is used; that rollback runs inside sqlx and is not recorded.
pub struct InstrumentedTransaction<'c, DB: Database> {
    tx: Transaction<'c, DB>,
    handle: Arc<PoolShared<DB>>,
}

impl<'c, DB: Database> InstrumentedTransaction<'c, DB> {
    pub(crate) fn new(tx: Transaction<'c, DB>, handle: Arc<PoolShared<DB>>) -> Self {
        InstrumentedTransaction { tx, handle }
    }

    /// Commits, recorded as a `COMMIT` operation.
    ///
    /// # Errors
    /// The [`sqlx::Error`] of [`Transaction::commit`], unchanged.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let mut call = self.handle.shared().start_operation(OPERATION_COMMIT);
        let span = call.span().clone();
        let result = self.tx.commit().instrument(span).await;
        call.finish(result.as_ref().err());
        result
    }

    /// Rolls back, recorded as a `ROLLBACK` operation.
    ///
    /// # Errors
    /// The [`sqlx::Error`] of [`Transaction::rollback`], unchanged.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let mut call = self.handle.shared().start_operation(OPERATION_ROLLBACK);
        let span = call.span().clone();
        let result = self.tx.rollback().instrument(span).await;
        call.finish(result.as_ref().err());
        result
    }

    /// Begins a nested transaction (a savepoint), recorded as a `SAVEPOINT` operation.
    ///
    /// # Errors
    /// The [`sqlx::Error`] of beginning, unchanged.
    pub async fn begin(&mut self) -> Result<InstrumentedTransaction<'_, DB>, sqlx::Error> {
        let mut call = self.handle.shared().start_operation(OPERATION_SAVEPOINT);
        let span = call.span().clone();
        let result = Transaction::begin(&mut *self.tx, None)
            .instrument(span)
            .await;
        call.finish(result.as_ref().err());
        drop(call);
        Ok(InstrumentedTransaction::new(
            result?,
            Arc::clone(&self.handle),
        ))
    }

    /// The wrapped transaction. Statements run on it directly are not recorded.
    pub fn inner_mut(&mut self) -> &mut Transaction<'c, DB> {
        &mut self.tx
    }

    /// Unwraps the transaction; its commit or rollback will not be recorded.
    pub fn into_inner(self) -> Transaction<'c, DB> {
        self.tx
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
        (Source::Connection(&mut *self.tx), self.handle.shared())
    }
}

impl<DB: Database> fmt::Debug for InstrumentedTransaction<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedTransaction")
            .field("tx", &self.tx)
            .finish_non_exhaustive()
    }
}

// `&mut` wrappers are executors only for concrete drivers: a generic impl would make every
// `for<'c> &'c mut DB::Connection: Executor<'c>` bound overflow (why sqlx 0.9 dropped the
// `Executor` impls of `Transaction` and `PoolConnection`).
#[cfg(feature = "postgres")]
impl_executor!(['x, 't] &'x mut InstrumentedTransaction<'t, sqlx::Postgres>, sqlx::Postgres, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
#[cfg(feature = "sqlite")]
impl_executor!(['x, 't] &'x mut InstrumentedTransaction<'t, sqlx::Sqlite>, sqlx::Sqlite, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
#[cfg(feature = "mysql")]
impl_executor!(['x, 't] &'x mut InstrumentedTransaction<'t, sqlx::MySql>, sqlx::MySql, |this| {
    let (source, shared) = this.parts();
    (source, shared, None::<crate::shared::Override>)
});
