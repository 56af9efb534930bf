//! The pool collector: connection gauges read from the pool at scrape time.

use std::sync::Weak;
use std::sync::atomic::Ordering;

use obs_core::names::{
    CONNECTION_STATE_IDLE, CONNECTION_STATE_USED, DB_CLIENT_CONNECTION_MAX,
    DB_CLIENT_CONNECTION_PENDING_REQUESTS, DB_CLIENT_CONNECTION_POOL_NAME,
    DB_CLIENT_CONNECTION_STATE, DB_CLIENT_CONNECTIONS,
};
use obs_core::prometheus::core::{Collector, Desc};
use obs_core::prometheus::proto::MetricFamily;
use obs_core::prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use sqlx::Database;

use crate::pool::PoolHandle;

/// The gauges of one pool, labelled with its name.
#[derive(Clone, Debug)]
pub(crate) struct PoolGauges {
    count: IntGaugeVec,
    max: IntGauge,
    pending: IntGauge,
    descs: Vec<Desc>,
}

impl PoolGauges {
    pub(crate) fn new(pool_name: &str) -> Result<Self, obs_core::prometheus::Error> {
        // The pool name is a constant label, so every pool's collector has its own
        // descriptors and several pools can report into one registry.
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
        Ok(PoolGauges {
            count,
            max,
            pending,
            descs,
        })
    }

    pub(crate) fn descs(&self) -> &[Desc] {
        &self.descs
    }
}

/// Reads a pool's state when the registry is gathered.
///
/// It holds the pool weakly: a registry outliving the pool does not keep connections open.
pub(crate) struct PoolCollector<DB: Database> {
    pub(crate) handle: Weak<PoolHandle<DB>>,
    pub(crate) gauges: PoolGauges,
}

impl<DB: Database> Collector for PoolCollector<DB> {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(handle) = self.handle.upgrade() else {
            return Vec::new();
        };
        let pool = handle.pool();
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        let gauges = &self.gauges;
        gauges
            .count
            .with_label_values(&[CONNECTION_STATE_IDLE])
            .set(idle);
        gauges
            .count
            .with_label_values(&[CONNECTION_STATE_USED])
            .set((size - idle).max(0));
        gauges
            .max
            .set(i64::from(pool.options().get_max_connections()));
        let pending = handle.shared().pending.load(Ordering::Relaxed);
        gauges
            .pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        let mut families = gauges.count.collect();
        families.extend(gauges.max.collect());
        families.extend(gauges.pending.collect());
        families
    }
}

/// Unregisters a pool's collector when the pool goes away, so its name can be reused.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) registry: Registry,
    pub(crate) descs: Vec<Desc>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let descs = Descriptors(std::mem::take(&mut self.descs));
        // Fails only when already unregistered, which leaves nothing to do.
        let _ = self.registry.unregister(Box::new(descs));
    }
}

/// A collector with only descriptors: what `Registry::unregister` matches on.
struct Descriptors(Vec<Desc>);

impl Collector for Descriptors {
    fn desc(&self) -> Vec<&Desc> {
        self.0.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}
