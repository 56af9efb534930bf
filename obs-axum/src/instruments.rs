//! Metric handles, looked up once per (route, method, status) and cached, so the request path
//! neither hashes label strings nor takes the registry's locks.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use obs_core::HttpServerMetrics;
use obs_core::prometheus::{Histogram, IntGauge};

use crate::route::KnownMethods;

/// The handles one finished request records into.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) duration: Histogram,
    pub(crate) request_size: Histogram,
    pub(crate) response_size: Histogram,
}

/// Per route: its template, its span names and its handles by (method, status).
#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub(crate) route: Box<str>,
    span_names: Box<[OnceLock<Box<str>>]>,
    by_status: RwLock<HashMap<(usize, u16), Arc<Handles>>>,
}

/// Every instrument the layer records into, shared by all clones of the layer.
#[derive(Debug)]
pub(crate) struct Instruments {
    families: HttpServerMetrics,
    pub(crate) methods: KnownMethods,
    active: Box<[IntGauge]>,
    routes: RwLock<HashMap<Box<str>, Arc<RouteEntry>>>,
}

impl Instruments {
    pub(crate) fn new(families: HttpServerMetrics, methods: KnownMethods) -> Self {
        let active = (0..methods.len())
            .map(|i| {
                families
                    .active_requests
                    .with_label_values(&[methods.label(i)])
            })
            .collect();
        Instruments {
            families,
            methods,
            active,
            routes: RwLock::new(HashMap::new()),
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

    /// The handles for a response with `status` on `route` and method index `method`.
    pub(crate) fn handles(&self, route: &RouteEntry, method: usize, status: u16) -> Arc<Handles> {
        if let Some(h) = read(&route.by_status).get(&(method, status)) {
            return Arc::clone(h);
        }
        let method_label = self.methods.label(method);
        let status_buf = status.to_string();
        let status_label = status_buf.as_str();
        // Server errors carry their status as `error_type`; anything below succeeded.
        let error_type = if status >= 500 { status_label } else { "" };
        let handles = Arc::new(Handles {
            duration: self.families.request_duration.with_label_values(&[
                method_label,
                &route.route,
                status_label,
                error_type,
            ]),
            request_size: self.families.request_body_size.with_label_values(&[
                method_label,
                &route.route,
                status_label,
            ]),
            response_size: self.families.response_body_size.with_label_values(&[
                method_label,
                &route.route,
                status_label,
            ]),
        });
        Arc::clone(
            write(&route.by_status)
                .entry((method, status))
                .or_insert(handles),
        )
    }

    /// Records a request that produced no response: the inner service failed, the handler
    /// panicked, or the client went away. Rare, so not cached.
    pub(crate) fn record_failure(
        &self,
        route: &RouteEntry,
        method: usize,
        status: Option<u16>,
        error_type: &str,
        seconds: f64,
    ) {
        let status = status.map(|s| s.to_string()).unwrap_or_default();
        self.families
            .request_duration
            .with_label_values(&[
                self.methods.label(method),
                &route.route,
                &status,
                error_type,
            ])
            .observe(seconds);
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
