//! The instrumented [`sqlx::Executor`]: the method bodies every wrapper shares (pool,
//! connection, transaction, [`InstrumentedExecutor`]), the macro that implements the trait
//! for each wrapper with them, and [`InstrumentedExecutor`] itself.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{Stream, TryStreamExt};
use sqlx::{Database, Describe, Either, Execute, Executor, Pool, SqlStr};
use tracing::Instrument;

use crate::call::Call;
use crate::generator::generate;
use crate::shared::{Override, Shared};

/// Where a statement runs: on a connection taken from a pool for just this statement, or on
/// a connection the caller holds.
pub(crate) enum Source<'e, DB: Database> {
    Pool(&'e Pool<DB>),
    Connection(&'e mut DB::Connection),
}

type Step<DB> = Either<<DB as Database>::QueryResult, <DB as Database>::Row>;

pub(crate) fn fetch_many<'e, 'q: 'e, DB, E>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    over: Option<Override>,
    query: E,
) -> BoxStream<'e, Result<Step<DB>, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    let (query, mut call) = shared.start::<DB, E>(query, over);
    call.streaming();
    let inner: BoxStream<'e, Result<Step<DB>, sqlx::Error>> = match source {
        Source::Connection(conn) => conn.fetch_many(query),
        Source::Pool(pool) => Box::pin(generate(move |y| async move {
            let mut conn = shared.acquire(pool).await?;
            let mut steps = conn.fetch_many(query);
            while let Some(step) = steps.try_next().await? {
                y.send(step).await;
            }
            Ok(())
        })),
    };
    Box::pin(Recorded::<DB, _> {
        inner,
        call,
        _db: std::marker::PhantomData,
    })
}

/// The body shared by the single-result methods: start the record, run `$run` on the caller's
/// connection or on one acquired from the pool for just this statement, note what came back
/// with `$on_ok`, and finish the record, all inside the statement's span.
macro_rules! recorded {
    (
        $source:ident, $shared:ident, $over:ident, $query:ident,
        |$conn:ident, $q:ident| $run:expr,
        |$call:ident, $value:ident| $on_ok:expr
    ) => {{
        let (query, mut call) = $shared.start::<DB, E>($query, $over);
        let span = call.span().clone();
        Box::pin(
            async move {
                let $q = query;
                let result = match $source {
                    Source::Connection($conn) => $run,
                    Source::Pool(pool) => match $shared.acquire(pool).await {
                        Ok(mut $conn) => $run,
                        Err(e) => Err(e),
                    },
                };
                match &result {
                    Ok($value) => {
                        let $call = &mut call;
                        $on_ok;
                        call.finish(None);
                    }
                    Err(e) => call.finish(Some(e)),
                }
                result
            }
            .instrument(span),
        )
    }};
}

pub(crate) fn fetch_optional<'e, 'q: 'e, DB, E>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    over: Option<Override>,
    query: E,
) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    recorded!(
        source,
        shared,
        over,
        query,
        |conn, q| conn.fetch_optional(q).await,
        |call, row| call.add_returned(u64::from(row.is_some()))
    )
}

pub(crate) fn fetch_one<'e, 'q: 'e, DB, E>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    over: Option<Override>,
    query: E,
) -> BoxFuture<'e, Result<DB::Row, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    // Through `fetch_one` rather than the trait's default, so `RowNotFound` is recorded.
    recorded!(
        source,
        shared,
        over,
        query,
        |conn, q| conn.fetch_one(q).await,
        |call, _row| call.add_returned(1)
    )
}

pub(crate) fn fetch_all<'e, 'q: 'e, DB, E>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    over: Option<Override>,
    query: E,
) -> BoxFuture<'e, Result<Vec<DB::Row>, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    recorded!(
        source,
        shared,
        over,
        query,
        |conn, q| conn.fetch_all(q).await,
        |call, rows| call.add_returned(rows.len() as u64)
    )
}

pub(crate) fn execute<'e, 'q: 'e, DB, E>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    over: Option<Override>,
    query: E,
) -> BoxFuture<'e, Result<DB::QueryResult, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    E: 'q + Execute<'q, DB>,
{
    recorded!(
        source,
        shared,
        over,
        query,
        |conn, q| conn.execute(q).await,
        |call, done| call.add_affected::<DB>(done)
    )
}

/// Preparing runs no statement: it is passed through without a record.
pub(crate) fn prepare_with<'e, DB>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    sql: SqlStr,
    parameters: &'e [DB::TypeInfo],
) -> BoxFuture<'e, Result<DB::Statement, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    match source {
        Source::Connection(conn) => conn.prepare_with(sql, parameters),
        Source::Pool(pool) => Box::pin(async move {
            let mut conn = shared.acquire(pool).await?;
            conn.prepare_with(sql, parameters).await
        }),
    }
}

/// Describing (the query macros' compile-time check) is passed through without a record.
pub(crate) fn describe<'e, DB>(
    source: Source<'e, DB>,
    shared: &'e Shared,
    sql: SqlStr,
) -> BoxFuture<'e, Result<Describe<DB>, sqlx::Error>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    match source {
        Source::Connection(conn) => conn.describe(sql),
        Source::Pool(pool) => Box::pin(async move {
            let mut conn = shared.acquire(pool).await?;
            conn.describe(sql).await
        }),
    }
}

/// A statement's result stream, recorded when it ends, fails or is dropped.
struct Recorded<'e, DB, S> {
    inner: S,
    call: Call<'e>,
    _db: std::marker::PhantomData<fn() -> DB>,
}

impl<DB, S> Stream for Recorded<'_, DB, S>
where
    DB: Database,
    S: Stream<Item = Result<Step<DB>, sqlx::Error>> + Unpin,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = {
            let _entered = this.call.span().enter();
            Pin::new(&mut this.inner).poll_next(cx)
        };
        match &polled {
            Poll::Ready(Some(Ok(Either::Right(_)))) => this.call.add_returned(1),
            Poll::Ready(Some(Ok(Either::Left(done)))) => this.call.add_affected::<DB>(done),
            Poll::Ready(Some(Err(e))) => this.call.finish(Some(e)),
            Poll::Ready(None) => this.call.finish(None),
            Poll::Pending => {}
        }
        polled
    }
}

/// Implements `sqlx::Executor` for a wrapper, given how to split it into a [`Source`], the
/// [`Shared`] state and an optional [`Override`].
macro_rules! impl_executor {
    ([$($gen:tt)*] $ty:ty, $db:ty, |$this:ident| $parts:expr) => {
        impl<$($gen)*> sqlx::Executor<'x> for $ty
        where
            $db: sqlx::Database,
            for<'c> &'c mut <$db as sqlx::Database>::Connection:
                sqlx::Executor<'c, Database = $db>,
        {
            type Database = $db;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::stream::BoxStream<
                'e,
                Result<
                    sqlx::Either<
                        <$db as sqlx::Database>::QueryResult,
                        <$db as sqlx::Database>::Row,
                    >,
                    sqlx::Error,
                >,
            >
            where
                'x: 'e,
                E: 'q + sqlx::Execute<'q, $db>,
            {
                let $this = self;
                let (source, shared, over) = $parts;
                $crate::executor::fetch_many(source, shared, over, query)
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<Option<<$db as sqlx::Database>::Row>, sqlx::Error>,
            >
            where
                'x: 'e,
                E: 'q + sqlx::Execute<'q, $db>,
            {
                let $this = self;
                let (source, shared, over) = $parts;
                $crate::executor::fetch_optional(source, shared, over, query)
            }

            fn fetch_one<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<<$db as sqlx::Database>::Row, sqlx::Error>,
            >
            where
                'x: 'e,
                E: 'q + sqlx::Execute<'q, $db>,
            {
                let $this = self;
                let (source, shared, over) = $parts;
                $crate::executor::fetch_one(source, shared, over, query)
            }

            fn fetch_all<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<Vec<<$db as sqlx::Database>::Row>, sqlx::Error>,
            >
            where
                'x: 'e,
                E: 'q + sqlx::Execute<'q, $db>,
            {
                let $this = self;
                let (source, shared, over) = $parts;
                $crate::executor::fetch_all(source, shared, over, query)
            }

            fn execute<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<<$db as sqlx::Database>::QueryResult, sqlx::Error>,
            >
            where
                'x: 'e,
                E: 'q + sqlx::Execute<'q, $db>,
            {
                let $this = self;
                let (source, shared, over) = $parts;
                $crate::executor::execute(source, shared, over, query)
            }

            fn prepare_with<'e>(
                self,
                sql: sqlx::SqlStr,
                parameters: &'e [<$db as sqlx::Database>::TypeInfo],
            ) -> futures_util::future::BoxFuture<
                'e,
                Result<<$db as sqlx::Database>::Statement, sqlx::Error>,
            >
            where
                'x: 'e,
            {
                let $this = self;
                let (source, shared, _) = $parts;
                $crate::executor::prepare_with(source, shared, sql, parameters)
            }

            fn describe<'e>(
                self,
                sql: sqlx::SqlStr,
            ) -> futures_util::future::BoxFuture<'e, Result<sqlx::Describe<$db>, sqlx::Error>>
            where
                'x: 'e,
            {
                let $this = self;
                let (source, shared, _) = $parts;
                $crate::executor::describe(source, shared, sql)
            }
        }
    };
}

pub(crate) use impl_executor;

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
    /// Each pool records at most
    /// [`MAX_NAMED_OPERATIONS`](obs_core::names::MAX_NAMED_OPERATIONS) distinct pairs (the
    /// first it sees), names of at most
    /// [`MAX_OPERATION_NAME_LEN`](obs_core::names::MAX_OPERATION_NAME_LEN) bytes; others are
    /// recorded as `OTHER` without a table, so leaked or generated names stay bounded too.
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
