//! Metric handles, looked up once per (route, method, status, custom label values) and cached,
//! so the request path neither hashes label strings nor takes the registry's locks.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
    by_status: RwLock<KeyMap<(usize, u16, CustomKey), Arc<HttpServerSeries>>>,
}

/// Every instrument the layer records into, shared by all clones of the layer.
#[derive(Debug)]
pub(crate) struct Instruments {
    families: HttpServerMetrics,
    pub(crate) methods: KnownMethods,
    active: Box<[IntGauge]>,
    routes: RwLock<KeyMap<Box<str>, Arc<RouteEntry>>>,
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
            routes: RwLock::new(KeyMap::default()),
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
                by_status: RwLock::new(KeyMap::default()),
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

/// The caches' maps. Their keys are route templates and (method, status, custom label value
/// indices): values the application's routes, handlers and declared label sets choose, never
/// raw client input (see [`crate::route`]), so
/// they need no defence against chosen collisions, and a multiply-rotate hash (FxHash's) does
/// what SipHash did at a fraction of the instructions.
type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct KeyHasher(u64);

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still consistent.
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn every_byte_and_field_of_a_key_counts() {
        let hash = |key: &dyn Fn(&mut KeyHasher)| {
            let mut h = BuildHasherDefault::<KeyHasher>::default().build_hasher();
            key(&mut h);
            h.finish()
        };
        let routes = [
            "/todos/{id}",
            "/todos/{ie}",
            "/todos/{id}/",
            "/todos/",
            "/todos/{",
        ];
        let mut hashes: Vec<u64> = routes
            .iter()
            .map(|r| hash(&|h| std::hash::Hash::hash(*r, h)))
            .collect();
        hashes.extend(
            [(0usize, 200u16), (1, 200), (0, 201)].map(|k| hash(&|h| std::hash::Hash::hash(&k, h))),
        );
        let mut distinct = hashes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), hashes.len(), "{hashes:x?}");
    }
}
