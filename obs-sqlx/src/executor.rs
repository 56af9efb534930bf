//! [`InstrumentedExecutor`]: an executor over an instrumented pool, connection or transaction.

use std::fmt;

use sqlx::Database;

use crate::exec::{Source, impl_executor};
use crate::instrument::{Override, Shared};

/// A [`sqlx::Executor`] over an instrumented pool, connection or transaction, optionally
/// recording under a caller-chosen operation and table.
///
/// Made by [`InstrumentedPool::named`](crate::InstrumentedPool::named),
/// [`InstrumentedConnection::executor`](crate::InstrumentedConnection::executor),
/// [`InstrumentedTransaction::executor`](crate::InstrumentedTransaction::executor) and their
/// `named` siblings. It works for every sqlx driver; for the drivers enabled by this crate's
/// features, `&mut conn` and `&mut tx` are executors themselves.
pub struct InstrumentedExecutor<'a, DB: Database> {
    source: Source<'a, DB>,
    shared: &'a Shared,
    over: Option<Override>,
}

impl<'a, DB: Database> InstrumentedExecutor<'a, DB> {
    pub(crate) fn new(source: Source<'a, DB>, shared: &'a Shared) -> Self {
        InstrumentedExecutor {
            source,
            shared,
            over: None,
        }
    }

    /// Records statements under `operation` and `collection` instead of what the summariser
    /// derives from the SQL text, for statements it cannot name well (stored procedures,
    /// generated SQL).
    ///
    /// Both are `&'static str` so the label values stay a fixed set; pass `""` for no table.
    pub fn named(mut self, operation: &'static str, collection: &'static str) -> Self {
        self.over = Some(Override {
            operation,
            collection,
        });
        self
    }
}

impl<DB: Database> fmt::Debug for InstrumentedExecutor<'_, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedExecutor")
            .field("over", &self.over)
            .finish_non_exhaustive()
    }
}

impl_executor!(['x, DB] InstrumentedExecutor<'x, DB>, DB, |this| {
    (this.source, this.shared, this.over)
});
