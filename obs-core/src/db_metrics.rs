//! The database client metric families.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use crate::Error;
use crate::buckets::Buckets;
use crate::exemplars::{ExemplarFamily, ExemplarHistogram, ExemplarIndex};
use crate::names::*;

/// The database client families of the OpenTelemetry conventions, registered once per registry
/// (see [`Metrics::db_client`](crate::Metrics::db_client)).
///
/// For instrumentation crates (obs-sqlx and obs-redis record into it): look a series up once
/// per label set with [`operation_duration`](Self::operation_duration) or
/// [`pool`](Self::pool) and keep the handle.
///
/// The pool gauges (`db_client_connections`, `_max`, `_pending_requests`) are read at
/// scrape time by a collector of the pool's crate, through [`DbPoolGauges`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbClientMetrics {
    /// `db_client_operation_duration_seconds`, labels [`DB_OPERATION_LABELS`].
    operation_duration: HistogramVec,
    /// The exemplar slots of `operation_duration`'s series.
    operation_duration_exemplars: ExemplarFamily,
    /// `db_client_connection_wait_time_seconds`, labels [`DB_POOL_LABELS`].
    connection_wait_time: HistogramVec,
    /// `db_client_connection_timeouts_total`, labels [`DB_POOL_LABELS`].
    connection_timeouts: IntCounterVec,
}

/// The labels of one database operation. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbOperationLabels<'a> {
    /// `db_system_name`: one of the `DB_SYSTEM_*` values.
    pub system: &'a str,
    /// `db_operation_name`: a known verb or command, or [`OPERATION_OTHER`].
    pub operation: &'a str,
    /// `db_collection_name`: the table, empty when there is none (and for Redis).
    pub collection: &'a str,
    /// `error_type`, empty when the operation succeeded.
    pub error_type: &'a str,
}

/// The per-pool series of one connection pool, looked up by [`DbClientMetrics::pool`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DbPoolSeries {
    /// `db_client_connection_wait_time_seconds`.
    pub connection_wait_time: Histogram,
    /// `db_client_connection_timeouts_total`.
    pub connection_timeouts: IntCounter,
}

impl DbClientMetrics {
    pub(crate) fn register(
        registry: &Registry,
        buckets: &Buckets,
        exemplars: &ExemplarIndex,
    ) -> Result<Self, Error> {
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
        let operation_duration_exemplars = ExemplarFamily::new(
            DB_CLIENT_OPERATION_DURATION,
            &DB_OPERATION_LABELS,
            &buckets.db_duration,
        );
        exemplars.add(operation_duration_exemplars.clone());
        Ok(DbClientMetrics {
            operation_duration,
            operation_duration_exemplars,
            connection_wait_time,
            connection_timeouts,
        })
    }

    /// The `db_client_operation_duration_seconds` series of one label set, with exemplars.
    pub fn operation_duration(&self, labels: DbOperationLabels<'_>) -> ExemplarHistogram {
        let values = [
            labels.system,
            labels.operation,
            labels.collection,
            labels.error_type,
        ];
        let histogram = self.operation_duration.with_label_values(&values);
        self.operation_duration_exemplars.series(histogram, &values)
    }

    /// The series of the pool named `pool_name` (`db_client_connection_pool_name`).
    pub fn pool(&self, pool_name: &str) -> DbPoolSeries {
        DbPoolSeries {
            connection_wait_time: self.connection_wait_time.with_label_values(&[pool_name]),
            connection_timeouts: self.connection_timeouts.with_label_values(&[pool_name]),
        }
    }
}

/// A connection pool's state, as read at scrape time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbPoolState {
    /// Connections sitting in the pool.
    pub idle: i64,
    /// Connections handed out.
    pub used: i64,
    /// The maximum number of connections the pool allows.
    pub max: i64,
    /// Callers waiting for a connection.
    pub pending: i64,
}

/// The scrape-time gauges of one connection pool (`db_client_connections`,
/// `db_client_connection_max`, `db_client_connection_pending_requests`), labelled with its
/// name.
///
/// For instrumentation crates: a pool crate's [`Collector`] reads the pool when the registry
/// is gathered and returns [`collect`](Self::collect) of what it read. The pool name is a
/// constant label, so every pool's collector has its own descriptors and several pools can
/// report into one registry.
#[derive(Clone, Debug)]
pub struct DbPoolGauges {
    count: IntGaugeVec,
    idle: IntGauge,
    used: IntGauge,
    max: IntGauge,
    pending: IntGauge,
    descs: Vec<Desc>,
}

impl DbPoolGauges {
    /// The gauges of the pool named `pool_name`.
    ///
    /// # Errors
    /// When `pool_name` is not a valid label value.
    pub fn new(pool_name: &str) -> Result<Self, prometheus::Error> {
        let opts = |name: &str, help: &str| {
            Opts::new(name, help).const_label(DB_CLIENT_CONNECTION_POOL_NAME, pool_name)
        };
        let count = IntGaugeVec::new(
            opts(DB_CLIENT_CONNECTIONS, "Connections in the pool, by state."),
            &[DB_CLIENT_CONNECTION_STATE],
        )?;
        let max = IntGauge::with_opts(opts(
            DB_CLIENT_CONNECTION_MAX,
            "The maximum number of connections the pool allows.",
        ))?;
        let pending = IntGauge::with_opts(opts(
            DB_CLIENT_CONNECTION_PENDING_REQUESTS,
            "Callers waiting for a pooled connection.",
        ))?;
        let descs = count
            .desc()
            .into_iter()
            .chain(max.desc())
            .chain(pending.desc())
            .cloned()
            .collect();
        Ok(DbPoolGauges {
            idle: count.with_label_values(&[CONNECTION_STATE_IDLE]),
            used: count.with_label_values(&[CONNECTION_STATE_USED]),
            count,
            max,
            pending,
            descs,
        })
    }

    /// The descriptors of the gauges, for [`Collector::desc`] and for unregistering.
    pub fn descs(&self) -> &[Desc] {
        &self.descs
    }

    /// Sets the gauges to `state` and returns their families, for [`Collector::collect`].
    pub fn collect(&self, state: DbPoolState) -> Vec<MetricFamily> {
        self.idle.set(state.idle);
        self.used.set(state.used);
        self.max.set(state.max);
        self.pending.set(state.pending);
        let mut families = self.count.collect();
        families.extend(self.max.collect());
        families.extend(self.pending.collect());
        families
    }
}
