//! [`InstrumentedPoolBuilder`]: the name, span settings and statement cache of an
//! [`InstrumentedPool`].

use std::fmt;
use std::sync::Arc;

use obs_core::Metrics;
use sqlx::{Database, Pool};

use crate::backend;
use crate::collector::{PoolCollector, Registration};
use crate::error::Error;
use crate::pool::InstrumentedPool;
use crate::shared::{PoolShared, Settings, Shared};

/// The pool name used when none is set: `db_client_connection_pool_name="default"`.
pub const DEFAULT_POOL_NAME: &str = "default";
/// Whether spans carry the masked statement text (`db.query.text`) by default.
pub const DEFAULT_QUERY_TEXT: bool = true;
/// How many distinct statement texts are summarised once and remembered, by default.
pub const DEFAULT_STATEMENT_CACHE_CAPACITY: usize = 1024;

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
    pub(crate) fn new(pool: Pool<DB>, metrics: &Metrics) -> Self {
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
            PoolShared {
                pool,
                shared,
                pool_name: pool_name.clone(),
                _registration: registration,
            }
        });
        match registered {
            Ok(()) => Ok(InstrumentedPool::from_shared(handle)),
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
