//! [`InstrumentedPool`] and its builder.

use std::fmt;
use std::sync::Arc;

use obs_core::Metrics;
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use tracing::Instrument;

use crate::backend;
use crate::collector::{PoolCollector, Registration};
use crate::connection::InstrumentedConnection;
use crate::error::Error;
use crate::exec::{Source, impl_executor};
use crate::executor::InstrumentedExecutor;
use crate::instrument::{Settings, Shared};
use crate::transaction::InstrumentedTransaction;

/// The pool name used when none is set: `db_client_connection_pool_name="default"`.
pub const DEFAULT_POOL_NAME: &str = "default";
/// Whether spans carry the masked statement text (`db.query.text`) by default.
pub const DEFAULT_QUERY_TEXT: bool = true;
/// How many distinct statement texts are summarised once and remembered, by default.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 1024;

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
    inner: Arc<PoolHandle<DB>>,
}

/// The pool and its recording state, shared by the pool's clones, connections and
/// transactions, and read weakly by the pool collector.
pub(crate) struct PoolHandle<DB: Database> {
    pool: Pool<DB>,
    shared: Shared,
    pool_name: String,
    _registration: Option<Registration>,
}

impl<DB: Database> PoolHandle<DB> {
    pub(crate) fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
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
        InstrumentedPoolBuilder {
            pool,
            metrics: metrics.clone(),
            pool_name: DEFAULT_POOL_NAME.to_owned(),
            query_text: DEFAULT_QUERY_TEXT,
            cache_capacity: DEFAULT_STATEMENT_CACHE_CAPACITY,
            namespace: None,
            server_address: None,
            server_port: None,
        }
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
        let mut call = self.inner.shared.start_operation("BEGIN");
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
    (source, shared, None::<crate::instrument::Override>)
});

/// Builds an [`InstrumentedPool`]; see [`InstrumentedPool::builder`].
#[must_use]
pub struct InstrumentedPoolBuilder<DB: Database> {
    pool: Pool<DB>,
    metrics: Metrics,
    pool_name: String,
    query_text: bool,
    cache_capacity: usize,
    namespace: Option<String>,
    server_address: Option<String>,
    server_port: Option<u16>,
}

impl<DB: Database> InstrumentedPoolBuilder<DB> {
    /// The `db_client_connection_pool_name` of this pool's connection metrics; unique per
    /// registry.
    ///
    /// Defaults to [`DEFAULT_POOL_NAME`].
    pub fn pool_name(mut self, name: impl Into<String>) -> Self {
        self.pool_name = name.into();
        self
    }

    /// Whether spans carry `db.query.text`, the statement with its literals replaced by `?`.
    ///
    /// Defaults to [`DEFAULT_QUERY_TEXT`] (on).
    pub fn query_text(mut self, enabled: bool) -> Self {
        self.query_text = enabled;
        self
    }

    /// How many distinct statement texts are summarised once and remembered; statements
    /// beyond that are summarised on every call.
    ///
    /// Defaults to [`DEFAULT_STATEMENT_CACHE_CAPACITY`].
    pub fn statement_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// The span attribute `db.namespace` (the database name).
    ///
    /// Defaults to the database in the pool's connect options (PostgreSQL, MySQL) or the
    /// file name (SQLite), for the drivers enabled by this crate's features.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The span attribute `server.address`.
    ///
    /// Defaults to the host in the pool's connect options, as for
    /// [`namespace`](Self::namespace).
    pub fn server_address(mut self, address: impl Into<String>) -> Self {
        self.server_address = Some(address.into());
        self
    }

    /// The span attribute `server.port`.
    ///
    /// Defaults to the port in the pool's connect options, as for
    /// [`namespace`](Self::namespace).
    pub fn server_port(mut self, port: u16) -> Self {
        self.server_port = Some(port);
        self
    }

    /// Registers the metrics and the pool collector and returns the pool.
    ///
    /// # Errors
    /// [`Error::Metrics`] when the database families cannot be registered,
    /// [`Error::DuplicatePoolName`] when a pool of this name already reports into the
    /// registry.
    pub fn build(self) -> Result<InstrumentedPool<DB>, Error> {
        let db = self.metrics.db_client()?;
        let mut endpoint = backend::endpoint(&self.pool);
        if self.namespace.is_some() {
            endpoint.namespace = self.namespace;
        }
        if self.server_address.is_some() {
            endpoint.address = self.server_address;
        }
        if self.server_port.is_some() {
            endpoint.port = self.server_port;
        }
        let shared = Shared::new(
            &db,
            Settings {
                system: backend::system_name::<DB>(),
                pool_name: self.pool_name.clone(),
                query_text: self.query_text,
                cache_capacity: self.cache_capacity,
                endpoint,
            },
        );
        let gauges = obs_core::DbPoolGauges::new(&self.pool_name).map_err(Error::Collector)?;
        let registry = self.metrics.registry().clone();
        let mut registered = Ok(());
        let pool_name = self.pool_name;
        let pool = self.pool;
        let handle = Arc::new_cyclic(|weak| {
            let collector = PoolCollector {
                handle: weak.clone(),
                gauges: gauges.clone(),
            };
            let registration = match registry.register(Box::new(collector)) {
                Ok(()) => Some(Registration {
                    registry: registry.clone(),
                    descs: gauges.descs().to_vec(),
                }),
                Err(e) => {
                    registered = Err(e);
                    None
                }
            };
            PoolHandle {
                pool,
                shared,
                pool_name: pool_name.clone(),
                _registration: registration,
            }
        });
        match registered {
            Ok(()) => Ok(InstrumentedPool { inner: handle }),
            Err(obs_core::prometheus::Error::AlreadyReg) => {
                Err(Error::DuplicatePoolName(pool_name))
            }
            Err(e) => Err(Error::Collector(e)),
        }
    }
}

impl<DB: Database> fmt::Debug for InstrumentedPoolBuilder<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedPoolBuilder")
            .field("pool_name", &self.pool_name)
            .field("query_text", &self.query_text)
            .field("statement_cache_capacity", &self.cache_capacity)
            .finish_non_exhaustive()
    }
}
