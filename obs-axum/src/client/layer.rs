//! [`ClientLayer`] and the instruments every service it makes shares.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use obs_core::names::SERVER_ADDRESS_OTHER;
use obs_core::prometheus::Histogram;
use obs_core::{HttpClientLabels, HttpClientMetrics, Metrics, Telemetry};
use opentelemetry::propagation::TextMapPropagator;
use tower_layer::Layer;

use crate::client::service::ClientService;
use crate::route::KnownMethods;

/// Records `http_client_request_duration_seconds` and opens a client span for every outgoing
/// request, injecting `traceparent` into it. See the [module docs](crate::client).
///
/// Every clone shares one label cache.
#[derive(Clone)]
#[must_use]
pub struct ClientLayer {
    pub(crate) instruments: Option<Arc<Instruments>>,
    pub(crate) spans: bool,
    pub(crate) propagate: bool,
    /// `None`: the global propagator, read per request.
    pub(crate) propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
}

impl ClientLayer {
    /// A layer recording into the registry of `telemetry`, injecting trace context with its
    /// propagators.
    ///
    /// Never fails: if the registry holds a conflicting metric of our name, the error is
    /// logged and no metric is recorded; spans and propagation still work.
    /// [`ClientLayer::from_metrics`] returns the error instead.
    pub fn new(telemetry: &Telemetry) -> Self {
        Self::from_metrics(telemetry.metrics())
            .unwrap_or_else(|error| {
                tracing::error!(%error, "HTTP client metrics are off; requests are still sent");
                Self::with_instruments(None)
            })
            .propagator(telemetry.propagator())
    }

    /// A layer recording into `metrics`. Trace context is injected with the global propagator
    /// unless [`propagator`](Self::propagator) sets one.
    ///
    /// # Errors
    /// When the registry holds a metric of the same name that obs did not create.
    pub fn from_metrics(metrics: &Metrics) -> Result<Self, obs_core::Error> {
        let family = metrics.http_client()?;
        Ok(Self::with_instruments(Some(Arc::new(Instruments::new(
            family,
            KnownMethods::from_env(),
            Box::new([]),
        )))))
    }

    fn with_instruments(instruments: Option<Arc<Instruments>>) -> Self {
        ClientLayer {
            instruments,
            spans: true,
            propagate: true,
            propagator: None,
        }
    }

    /// The hosts kept as `server_address` values (compared without regard to ASCII case;
    /// IPv6 addresses without brackets). Any other host is recorded as `_OTHER`, without a
    /// port. Replaces the list and starts a new label cache. Defaults to none.
    pub fn server_addresses<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Some(instruments) = &self.instruments {
            let hosts: Box<[Box<str>]> = hosts
                .into_iter()
                .map(|h| normalise_host(h.as_ref().trim()))
                .filter(|h| !h.is_empty())
                .map(String::into_boxed_str)
                .collect();
            self.instruments = Some(Arc::new(Instruments::new(
                instruments.family.clone(),
                instruments.methods.clone(),
                hosts,
            )));
        }
        self
    }

    /// Whether to open a client span. Without it, the current span's context is still
    /// propagated. Defaults to `true`.
    pub fn spans(mut self, enabled: bool) -> Self {
        self.spans = enabled;
        self
    }

    /// Whether to inject the trace context (`traceparent`, `tracestate`) into requests. Turn
    /// it off for calls to third parties that must not learn your trace ids. Defaults to
    /// `true`.
    pub fn propagate(mut self, enabled: bool) -> Self {
        self.propagate = enabled;
        self
    }

    /// The propagator trace context is injected with. Defaults to the one of the
    /// [`Telemetry`] given to [`ClientLayer::new`] (`OTEL_PROPAGATORS`), else the global
    /// propagator, so services set up with
    /// [`TelemetryBuilder::build`](obs_core::TelemetryBuilder::build) and no global state
    /// still pass their trace on.
    pub fn propagator(
        mut self,
        propagator: impl TextMapPropagator + Send + Sync + 'static,
    ) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService::new(inner, self.clone())
    }
}

impl fmt::Debug for ClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientLayer")
            .field(
                "server_addresses",
                &self.instruments.as_ref().map(|i| &i.addresses),
            )
            .field("spans", &self.spans)
            .field("propagate", &self.propagate)
            .finish_non_exhaustive()
    }
}

/// Lowercase, without IPv6 brackets.
pub(crate) fn normalise_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Label key of one finished request: method index, address index, port, status.
type Key = (usize, usize, u16, u16);

/// The family, the label tables and the handle cache.
pub(crate) struct Instruments {
    family: HttpClientMetrics,
    pub(crate) methods: KnownMethods,
    addresses: Box<[Box<str>]>,
    cache: RwLock<HashMap<Key, Histogram>>,
}

impl Instruments {
    fn new(family: HttpClientMetrics, methods: KnownMethods, addresses: Box<[Box<str>]>) -> Self {
        Instruments {
            family,
            methods,
            addresses,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Index of `host` in the allow-list; `addresses.len()` stands for `_OTHER`.
    pub(crate) fn address(&self, host: Option<&str>) -> usize {
        host.and_then(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            self.addresses
                .iter()
                .position(|a| a.eq_ignore_ascii_case(h))
        })
        .unwrap_or(self.addresses.len())
    }

    fn labels(&self, address: usize, port: u16) -> (&str, String) {
        match self.addresses.get(address) {
            Some(a) => (a, port.to_string()),
            None => (SERVER_ADDRESS_OTHER, String::new()),
        }
    }

    /// The handle for a response with `status`.
    pub(crate) fn response(
        &self,
        method: usize,
        address: usize,
        port: u16,
        status: u16,
    ) -> Histogram {
        // Unlisted hosts share one series whatever their port.
        let port = if address < self.addresses.len() {
            port
        } else {
            0
        };
        let key = (method, address, port, status);
        if let Some(h) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return h.clone();
        }
        let (addr, port_label) = self.labels(address, port);
        let status_label = status.to_string();
        // Client conventions: 4xx and 5xx are errors, named by their status.
        let error_type = if status >= 400 {
            status_label.as_str()
        } else {
            ""
        };
        let histogram = self.family.request_duration(HttpClientLabels {
            method: self.methods.label(method),
            server_address: addr,
            server_port: &port_label,
            status: &status_label,
            error_type,
        });
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_insert(histogram)
            .clone()
    }

    /// Records a request that got no response. Rare, so not cached.
    pub(crate) fn failure(
        &self,
        method: usize,
        address: usize,
        port: u16,
        error_type: &str,
        seconds: f64,
    ) {
        let (addr, port_label) = self.labels(address, port);
        self.family
            .request_duration(HttpClientLabels {
                method: self.methods.label(method),
                server_address: addr,
                server_port: &port_label,
                status: "",
                error_type,
            })
            .observe(seconds);
    }
}

impl fmt::Debug for Instruments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instruments")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}
