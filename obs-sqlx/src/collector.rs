//! The pool collector: connection gauges read from the pool at scrape time.

use std::sync::Weak;
use std::sync::atomic::Ordering;

use obs_core::prometheus::Registry;
use obs_core::prometheus::core::{Collector, Desc};
use obs_core::prometheus::proto::MetricFamily;
use obs_core::{DbPoolGauges, DbPoolState};
use sqlx::Database;

use crate::shared::PoolShared;

/// Reads a pool's state when the registry is gathered.
///
/// It holds the pool weakly: a registry outliving the pool does not keep connections open.
pub(crate) struct PoolCollector<DB: Database> {
    pub(crate) handle: Weak<PoolShared<DB>>,
    pub(crate) gauges: DbPoolGauges,
}

impl<DB: Database> Collector for PoolCollector<DB> {
    fn desc(&self) -> Vec<&Desc> {
        self.gauges.descs().iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(handle) = self.handle.upgrade() else {
            return Vec::new();
        };
        let pool = handle.pool();
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
        let pending = handle.shared().pending.load(Ordering::Relaxed);
        self.gauges.collect(DbPoolState {
            idle,
            used: (size - idle).max(0),
            max: i64::from(pool.options().get_max_connections()),
            pending: i64::try_from(pending).unwrap_or(i64::MAX),
        })
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
