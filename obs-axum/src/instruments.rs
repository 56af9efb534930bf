//! Metric handles, looked up once per (route, method, status, custom label values) and cached,
//! so the request path neither hashes label strings nor takes the registry's locks.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use obs_core::prometheus::IntGauge;
use obs_core::{ExemplarHistogram, HttpServerLabels, HttpServerMetrics, HttpServerSeries};

use crate::custom_label::{CustomKey, CustomLabels};
use crate::route::KnownMethods;

/// Per route: its template, its span names and its handles by (method, status, custom label
/// values). The custom values come from declared sets, so each (method, status) has at most
/// [`MAX_CUSTOM_LABEL_COMBINATIONS`](obs_core::names::MAX_CUSTOM_LABEL_COMBINATIONS)
/// entries.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub(crate) route: Box<str>,
    span_names: Box<[OnceLock<Box<str>>]>,
    by_status: RwLock<HashMap<(usize, u16, CustomKey), Arc<HttpServerSeries>>>,
}

/// Every instrument the layer records into, shared by all clones of the layer.
#[derive(Debug)]
pub(crate) struct Instruments {
    families: HttpServerMetrics,
    pub(crate) methods: KnownMethods,
    active: Box<[IntGauge]>,
    routes: RwLock<HashMap<Box<str>, Arc<RouteEntry>>>,
    /// The layer's custom labels; empty without them.
    pub(crate) custom: Arc<CustomLabels>,
}

impl Instruments {
    pub(crate) fn new(
        families: HttpServerMetrics,
        methods: KnownMethods,
        custom: Arc<CustomLabels>,
    ) -> Self {
        let active = (0..methods.len())
            .map(|i| families.active_requests(methods.label(i)))
            .collect();
        Instruments {
            families,
            methods,
            active,
            routes: RwLock::new(HashMap::new()),
            custom,
        }
    }

    /// The active-requests gauge of method index `method`.
    pub(crate) fn active(&self, method: usize) -> &IntGauge {
        // `method` comes from `KnownMethods::index`, always below `len()`.
        &self.active[method.min(self.active.len() - 1)]
    }

    /// The cache entry of `route`, created on first sight.
    pub(crate) fn route(&self, route: &str) -> Arc<RouteEntry> {
        if let Some(entry) = read(&self.routes).get(route) {
            return Arc::clone(entry);
        }
        let mut routes = write(&self.routes);
        Arc::clone(routes.entry(route.into()).or_insert_with(|| {
            Arc::new(RouteEntry {
                route: route.into(),
                span_names: (0..self.methods.len()).map(|_| OnceLock::new()).collect(),
                by_status: RwLock::new(HashMap::new()),
            })
        }))
    }

    /// The series a response with `status` on `route`, method index `method` and custom label
    /// values `custom` records into.
    pub(crate) fn handles(
        &self,
        route: &RouteEntry,
        method: usize,
        status: u16,
        custom: CustomKey,
    ) -> Arc<HttpServerSeries> {
        if let Some(h) = read(&route.by_status).get(&(method, status, custom)) {
            return Arc::clone(h);
        }
        let status_buf = status.to_string();
        let status_label = status_buf.as_str();
        let custom_values = self.custom.values(custom);
        let handles = Arc::new(self.families.series_with(
            HttpServerLabels {
                method: self.methods.label(method),
                route: &route.route,
                status: status_label,
                // Server errors carry their status as `error_type`; anything below succeeded.
                error_type: if status >= 500 { status_label } else { "" },
            },
            &custom_values[..self.custom.len()],
        ));
        Arc::clone(
            write(&route.by_status)
                .entry((method, status, custom))
                .or_insert(handles),
        )
    }

    /// The duration series of a request that produced no complete response: the inner
    /// service failed, the handler panicked, the client went away or the body failed. Rare,
    /// so not cached.
    pub(crate) fn failure_duration(
        &self,
        route: &RouteEntry,
        method: usize,
        status: Option<u16>,
        custom: CustomKey,
        error_type: &str,
    ) -> ExemplarHistogram {
        let status = status.map(|s| s.to_string()).unwrap_or_default();
        let custom_values = self.custom.values(custom);
        self.families.request_duration_with(
            HttpServerLabels {
                method: self.methods.label(method),
                route: &route.route,
                status: &status,
                error_type,
            },
            &custom_values[..self.custom.len()],
        )
    }

    /// The span name `{METHOD} {route}` for this route and method, built once.
    pub(crate) fn span_name<'a>(&self, route: &'a RouteEntry, method: usize) -> &'a str {
        match route.span_names.get(method) {
            Some(slot) => slot.get_or_init(|| {
                format!("{} {}", self.methods.label(method), route.route).into_boxed_str()
            }),
            None => &route.route,
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still consistent.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
