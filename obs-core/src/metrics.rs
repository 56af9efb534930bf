//! [`Metrics`]: the handle around the Prometheus registry that every obs crate records into.

use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus::{Encoder, IntCounter, Registry, TextEncoder};

use crate::Error;
use crate::buckets::Buckets;
use crate::build_info::BuildInfo;
use crate::db_metrics::DbClientMetrics;
use crate::exemplars::ExemplarIndex;
use crate::http_client_metrics::HttpClientMetrics;
use crate::http_metrics::HttpServerMetrics;
use crate::loki::LokiCounters;
use crate::names::{
    MAX_CUSTOM_LABELS, OBS_LOKI_DROPPED_LINES, OBS_LOKI_SENT_LINES, is_reserved_label_name,
    is_valid_label_name,
};
use crate::rum_metrics::RumMetrics;
use crate::runtime_metrics::RuntimeMetrics;

/// A cloneable handle to a Prometheus [`Registry`] and to the obs metric families in it.
///
/// Families are created on first use and shared by every clone, so two layers recording HTTP
/// metrics into the same registry share one set of histograms instead of failing to register
/// a second one.
///
/// ```
/// let metrics = obs_core::Metrics::new();
/// let http = metrics.http_server().expect("fresh registry");
/// http.active_requests("GET").inc();
/// let text = metrics.encode().expect("text encoding");
/// assert!(text.contains("http_server_active_requests{http_request_method=\"GET\"} 1"));
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    buckets: Buckets,
    /// The exemplar slots of the histogram families that keep them, for OpenMetrics.
    exemplars: ExemplarIndex,
    http: Mutex<Option<HttpServerMetrics>>,
    http_client: Mutex<Option<HttpClientMetrics>>,
    runtime: Mutex<Option<RuntimeMetrics>>,
    db: Mutex<Option<DbClientMetrics>>,
    loki: Mutex<Option<LokiCounters>>,
    rum: Mutex<Option<RumMetrics>>,
}

impl Metrics {
    /// A new registry with the process collectors registered (on Linux, with the `process`
    /// feature): the `process_*` families and the cgroup memory limit.
    pub fn new() -> Self {
        Self::with_registry(Registry::new())
    }

    /// Wraps a registry the application already owns.
    ///
    /// The process collector (on Linux, with the `process` feature) is added unless the
    /// registry already has one.
    pub fn with_registry(registry: Registry) -> Self {
        Self::with_buckets(registry, Buckets::default())
    }

    /// Wraps `registry`, with the obs histogram families using `buckets` instead of the
    /// default boundaries.
    pub fn with_buckets(registry: Registry, buckets: Buckets) -> Self {
        register_process_collector(&registry);
        Metrics {
            inner: Arc::new(Inner {
                registry,
                buckets,
                exemplars: ExemplarIndex::default(),
                http: Mutex::new(None),
                http_client: Mutex::new(None),
                runtime: Mutex::new(None),
                db: Mutex::new(None),
                loki: Mutex::new(None),
                rum: Mutex::new(None),
            }),
        }
    }

    /// The wrapped registry, to register application metrics in.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The HTTP server families, registered on first call.
    ///
    /// # Errors
    /// When the registry already holds a metric of the same name that obs did not create.
    pub fn http_server(&self) -> Result<HttpServerMetrics, Error> {
        get_or_register(&self.inner.http, || {
            HttpServerMetrics::register(
                &self.inner.registry,
                &self.inner.buckets,
                &self.inner.exemplars,
                &[],
            )
        })
    }

    /// The HTTP server families with `custom_labels` on the duration and body-size
    /// histograms (after their own labels; `http_server_active_requests` keeps its one),
    /// registered on first call. Later calls to [`http_server`](Self::http_server) return
    /// these families, which then record the custom labels empty.
    ///
    /// The label set of a family is fixed once registered, so this must come first: before
    /// anything else on this registry asks for the HTTP families (`obs_axum::ObsLayer` and
    /// `obs_axum::metrics_router` do).
    ///
    /// ```
    /// use obs_core::HttpServerLabels;
    ///
    /// let metrics = obs_core::Metrics::new();
    /// let http = metrics.http_server_with_labels(&["tenant"])?;
    /// let labels = HttpServerLabels { method: "GET", route: "/", status: "200", error_type: "" };
    /// http.series_with(labels, &["acme"]).request_duration.observe(0.1);
    /// assert!(metrics.encode()?.contains(r#"tenant="acme""#));
    /// // The same names again are the same families; others are refused.
    /// assert!(metrics.http_server_with_labels(&["tenant"]).is_ok());
    /// assert!(matches!(
    ///     metrics.http_server_with_labels(&["plan"]),
    ///     Err(obs_core::Error::HttpLabelsRegistered { .. })
    /// ));
    /// # Ok::<(), obs_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`Error::InvalidConfig`] when there are more than
    ///   [`MAX_CUSTOM_LABELS`](crate::names::MAX_CUSTOM_LABELS) names, or a name is not a
    ///   valid Prometheus label name, is [reserved](crate::names::RESERVED_LABEL_NAMES) or
    ///   repeated.
    /// - [`Error::HttpLabelsRegistered`] when the HTTP families are already registered on
    ///   this registry with other custom labels (or none).
    /// - [`Error::Prometheus`] when the registry holds a metric of the same name that obs did
    ///   not create.
    pub fn http_server_with_labels<N: AsRef<str>>(
        &self,
        custom_labels: &[N],
    ) -> Result<HttpServerMetrics, Error> {
        let names: Vec<&str> = custom_labels.iter().map(AsRef::as_ref).collect();
        check_custom_label_names(&names)?;
        let mut slot = self
            .inner
            .http
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = slot.as_ref() {
            let registered = existing.custom_labels();
            if registered.iter().map(|n| &**n).eq(names.iter().copied()) {
                return Ok(existing.clone());
            }
            return Err(Error::HttpLabelsRegistered {
                registered: registered.iter().map(|n| n.to_string()).collect(),
                requested: names.iter().map(|n| (*n).to_owned()).collect(),
            });
        }
        let created = HttpServerMetrics::register(
            &self.inner.registry,
            &self.inner.buckets,
            &self.inner.exemplars,
            &names,
        )?;
        *slot = Some(created.clone());
        Ok(created)
    }

    /// The HTTP client family (`http_client_request_duration_seconds`), registered on first
    /// call.
    ///
    /// # Errors
    /// When the registry already holds a metric of the same name that obs did not create.
    pub fn http_client(&self) -> Result<HttpClientMetrics, Error> {
        get_or_register(&self.inner.http_client, || {
            HttpClientMetrics::register(&self.inner.registry, &self.inner.buckets)
        })
    }

    /// Measures the tokio runtime of `handle`: registers the `tokio_runtime_*` gauges, read
    /// at scrape time, and spawns the scheduling-delay probe on it with
    /// [`DEFAULT_PROBE_INTERVAL`](crate::DEFAULT_PROBE_INTERVAL). See [`RuntimeMetrics`] for
    /// what is measured and [`RuntimeMetrics::builder`] for options.
    ///
    /// One runtime per registry: a second call returns the first one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), obs_core::Error> {
    /// let metrics = obs_core::Metrics::new();
    /// metrics.runtime(&tokio::runtime::Handle::current())?;
    /// assert!(metrics.encode()?.contains("tokio_runtime_workers 1"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// When the registry already holds a metric of one of these names that obs did not create.
    pub fn runtime(&self, handle: &tokio::runtime::Handle) -> Result<RuntimeMetrics, Error> {
        RuntimeMetrics::builder(handle).register(self)
    }

    /// The runtime measured in this registry, registered by `register` on first call.
    pub(crate) fn runtime_slot(
        &self,
        register: impl FnOnce(&Registry) -> Result<RuntimeMetrics, Error>,
    ) -> Result<RuntimeMetrics, Error> {
        get_or_register(&self.inner.runtime, || register(&self.inner.registry))
    }

    /// The database client families, registered on first call.
    ///
    /// # Errors
    /// When the registry already holds a metric of the same name that obs did not create.
    pub fn db_client(&self) -> Result<DbClientMetrics, Error> {
        get_or_register(&self.inner.db, || {
            DbClientMetrics::register(
                &self.inner.registry,
                &self.inner.buckets,
                &self.inner.exemplars,
            )
        })
    }

    /// The browser real-user-monitoring families (web vitals, exceptions, events and the RUM
    /// receiver's own counters), registered on first call.
    ///
    /// # Errors
    /// When the registry already holds a metric of the same name that obs did not create.
    pub fn rum(&self) -> Result<RumMetrics, Error> {
        get_or_register(&self.inner.rum, || {
            RumMetrics::register(&self.inner.registry, &self.inner.buckets)
        })
    }

    /// The Loki pusher's delivery counters, registered on first call.
    #[cfg_attr(
        not(feature = "loki"),
        allow(dead_code, reason = "the pusher is behind the feature")
    )]
    pub(crate) fn loki_counters(&self) -> Result<LokiCounters, Error> {
        get_or_register(&self.inner.loki, || {
            let sent = IntCounter::new(OBS_LOKI_SENT_LINES, "Log lines delivered to Loki.")?;
            let dropped = IntCounter::new(
                OBS_LOKI_DROPPED_LINES,
                "Log lines dropped because the queue was full or Loki was unreachable.",
            )?;
            self.inner.registry.register(Box::new(sent.clone()))?;
            self.inner.registry.register(Box::new(dropped.clone()))?;
            Ok(LokiCounters { sent, dropped })
        })
    }

    /// Registers `obs_build_info` for this service.
    ///
    /// # Errors
    /// When build info was already registered in this registry.
    pub fn register_build_info(&self, info: &BuildInfo) -> Result<(), Error> {
        info.register(&self.inner.registry)
    }

    /// Encodes every metric in the registry in the Prometheus text format
    /// ([`PROMETHEUS_CONTENT_TYPE`](crate::names::PROMETHEUS_CONTENT_TYPE)).
    ///
    /// # Errors
    /// When a collector produced a family the encoder rejects.
    pub fn encode(&self) -> Result<String, Error> {
        let mut buf = Vec::with_capacity(16 * 1024);
        self.encode_to(&mut buf)?;
        // The text encoder writes only UTF-8 (names are ASCII, label values are `String`s).
        String::from_utf8(buf).map_err(|e| {
            Error::Prometheus(prometheus::Error::Msg(format!("non UTF-8 exposition: {e}")))
        })
    }

    /// Encodes every metric in the registry in the Prometheus text format into `buf`.
    ///
    /// # Errors
    /// When a collector produced a family the encoder rejects.
    pub fn encode_to(&self, buf: &mut Vec<u8>) -> Result<(), Error> {
        let families = self.inner.registry.gather();
        TextEncoder::new().encode(&families, buf)?;
        Ok(())
    }

    /// Encodes every metric in the registry in the OpenMetrics 1.0 text format
    /// ([`OPENMETRICS_CONTENT_TYPE`](crate::names::OPENMETRICS_CONTENT_TYPE)), with the
    /// exemplars of `http_server_request_duration_seconds` and
    /// `db_client_operation_duration_seconds` on their buckets and `# EOF` at the end.
    ///
    /// The series are those of [`encode`](Self::encode): the same sample names, labels and
    /// values. A counter whose name does not end in `_total` is written as `unknown`, which
    /// keeps its name. See [`ExemplarHistogram`](crate::ExemplarHistogram) for where
    /// exemplars come from.
    ///
    /// # Errors
    /// When a collector produced a family the encoder rejects.
    pub fn encode_openmetrics(&self) -> Result<String, Error> {
        let mut buf = Vec::with_capacity(16 * 1024);
        self.encode_openmetrics_to(&mut buf)?;
        // Written from `str`s only.
        String::from_utf8(buf).map_err(|e| {
            Error::Prometheus(prometheus::Error::Msg(format!("non UTF-8 exposition: {e}")))
        })
    }

    /// Encodes every metric in the registry in the OpenMetrics 1.0 text format into `buf`
    /// (see [`encode_openmetrics`](Self::encode_openmetrics)).
    ///
    /// # Errors
    /// When a collector produced a family the encoder rejects.
    pub fn encode_openmetrics_to(&self, buf: &mut Vec<u8>) -> Result<(), Error> {
        let families = self.inner.registry.gather();
        crate::openmetrics::encode(&families, &self.inner.exemplars, buf)?;
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The checks of [`Metrics::http_server_with_labels`] on its names.
fn check_custom_label_names(names: &[&str]) -> Result<(), Error> {
    const SETTING: &str = "Metrics::http_server_with_labels";
    if names.len() > MAX_CUSTOM_LABELS {
        return Err(Error::invalid(
            SETTING,
            names.join(","),
            format!("at most {MAX_CUSTOM_LABELS} custom labels"),
        ));
    }
    for (i, name) in names.iter().enumerate() {
        let reason = if !is_valid_label_name(name) {
            "a label name matches [a-zA-Z_][a-zA-Z0-9_]*"
        } else if is_reserved_label_name(name) {
            "reserved: a built-in HTTP label, `le` or a name starting with `__`"
        } else if names[..i].contains(name) {
            "given twice"
        } else {
            continue;
        };
        return Err(Error::invalid(SETTING, *name, reason));
    }
    Ok(())
}

fn get_or_register<T: Clone>(
    slot: &Mutex<Option<T>>,
    register: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    // Only construction goes through this lock; the hot path holds the returned clone.
    let mut slot = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(existing) = slot.as_ref() {
        return Ok(existing.clone());
    }
    let created = register()?;
    *slot = Some(created.clone());
    Ok(created)
}

#[cfg(all(target_os = "linux", feature = "process"))]
fn register_process_collector(registry: &Registry) {
    let collector = prometheus::process_collector::ProcessCollector::for_self();
    match registry.register(Box::new(collector)) {
        // The application registered its own process collector: keep it.
        Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
        Err(e) => tracing::warn!(error = %e, "cannot register the process collector"),
    }
    let registered = crate::memory_limit::MemoryLimitCollector::for_self()
        .and_then(|limit| registry.register(Box::new(limit)));
    match registered {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
        Err(e) => tracing::warn!(error = %e, "cannot register the memory limit collector"),
    }
}

#[cfg(not(all(target_os = "linux", feature = "process")))]
fn register_process_collector(_registry: &Registry) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_shared_between_clones() {
        let metrics = Metrics::new();
        let a = metrics.clone().http_server().unwrap();
        let b = metrics.http_server().unwrap();
        a.active_requests("GET").inc();
        assert_eq!(b.active_requests("GET").get(), 1);
    }

    #[test]
    fn user_registry_with_process_collector_is_accepted() {
        let registry = Registry::new();
        #[cfg(all(target_os = "linux", feature = "process"))]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .unwrap();
        let metrics = Metrics::with_registry(registry.clone());
        let db = metrics.db_client().unwrap();
        db.pool("main").connection_timeouts.inc();
        // What obs registered and what the application registers through `registry()` land in
        // the registry the application owns.
        let app = prometheus::IntCounter::new("app_jobs_total", "Jobs.").unwrap();
        metrics.registry().register(Box::new(app.clone())).unwrap();
        app.inc_by(3);
        let families = registry.gather();
        let value = |name: &str| -> Vec<f64> {
            families
                .iter()
                .filter(|f| f.name() == name)
                .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().get_value()))
                .collect()
        };
        assert_eq!(value("db_client_connection_timeouts_total"), [1.0]);
        assert_eq!(value("app_jobs_total"), [3.0]);
        // The process collector the application registered is kept, not registered twice.
        #[cfg(all(target_os = "linux", feature = "process"))]
        assert_eq!(
            families
                .iter()
                .filter(|f| f.name() == "process_cpu_seconds_total")
                .count(),
            1
        );
    }

    #[test]
    fn custom_label_names_are_checked() {
        let metrics = Metrics::new();
        for names in [
            &["a", "b", "c", "d", "e"][..],
            &["api-version"],
            &["http_route"],
            &["le"],
            &["__x"],
            &["t", "t"],
        ] {
            let err = metrics.http_server_with_labels(names).unwrap_err();
            assert!(
                matches!(err, Error::InvalidConfig { setting, .. } if setting == "Metrics::http_server_with_labels"),
                "{names:?}: {err}"
            );
        }
        // Nothing was registered by the refused calls.
        assert!(metrics.http_server().unwrap().custom_labels().is_empty());
    }

    #[test]
    fn conflicting_user_metric_is_an_error() {
        let registry = Registry::new();
        let clash =
            prometheus::IntCounter::new(crate::names::HTTP_SERVER_ACTIVE_REQUESTS, "not ours")
                .unwrap();
        registry.register(Box::new(clash)).unwrap();
        let metrics = Metrics::with_registry(registry);
        assert!(matches!(metrics.http_server(), Err(Error::Prometheus(_))));
    }
}
