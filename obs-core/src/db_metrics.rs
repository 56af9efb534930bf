//! The database client metric families.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The database client families of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::db_client`](crate::Metrics::db_client)).
///
/// The pool gauges (`db_client_connections`, `_max`, `_pending_requests`) are read at
/// scrape time by a collector of the pool's crate; their names are in [`crate::names`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbClientMetrics {
    /// `db_client_operation_duration_seconds`, labels [`DB_OPERATION_LABELS`].
    pub operation_duration: HistogramVec,
    /// `db_client_connection_wait_time_seconds`, labels [`DB_POOL_LABELS`].
    pub connection_wait_time: HistogramVec,
    /// `db_client_connection_timeouts_total`, labels [`DB_POOL_LABELS`].
    pub connection_timeouts: IntCounterVec,
}

impl DbClientMetrics {
    pub(crate) fn register(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let operation_duration = HistogramVec::new(
            HistogramOpts::new(
                DB_CLIENT_OPERATION_DURATION,
                "Duration of database client operations.",
            )
            .buckets(buckets.db_duration.clone()),
            &DB_OPERATION_LABELS,
        )?;
        let connection_wait_time = HistogramVec::new(
            HistogramOpts::new(
                DB_CLIENT_CONNECTION_WAIT_TIME,
                "Time it took to obtain an open connection from the pool.",
            )
            .buckets(buckets.db_wait_time.clone()),
            &DB_POOL_LABELS,
        )?;
        let connection_timeouts = IntCounterVec::new(
            Opts::new(
                DB_CLIENT_CONNECTION_TIMEOUTS,
                "Connection acquisitions that timed out.",
            ),
            &DB_POOL_LABELS,
        )?;
        registry.register(Box::new(operation_duration.clone()))?;
        registry.register(Box::new(connection_wait_time.clone()))?;
        registry.register(Box::new(connection_timeouts.clone()))?;
        Ok(DbClientMetrics {
            operation_duration,
            connection_wait_time,
            connection_timeouts,
        })
    }
}
