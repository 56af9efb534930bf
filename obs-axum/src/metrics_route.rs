//! `GET /metrics`: the registry in the Prometheus text format, or in OpenMetrics with exemplars
//! when the scraper asks for it, gzip when accepted, optionally behind a bearer token, on the
//! application's router or on a listener of its own.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use obs_core::names::{OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};
use obs_core::{Metrics, Telemetry};
use tokio::net::TcpListener;

use crate::ObsLayer;
use crate::negotiate::Format;

/// The default path of the metrics route.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// A router serving `telemetry`'s registry on `GET /metrics`, to [`Router::merge`] into the
/// application, before or after its [`ObsLayer`]; see [`MetricsRoute`] for what it records.
pub fn metrics_router<S>(telemetry: &Telemetry) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let route = MetricsRoute::new(telemetry.metrics());
    // Its own layer continues callers' traces with the telemetry's propagators, as
    // `ObsLayer::new` does; on a conflicting registry the application's layer reports the
    // error and this one is left out.
    match ObsLayer::from_metrics(telemetry.metrics()) {
        Ok(layer) => route.obs_layer(
            layer
                .propagator(telemetry.propagator())
                .skip_paths([DEFAULT_METRICS_PATH]),
        ),
        Err(_) => route,
    }
    .into_router()
}

/// Configures the metrics endpoint.
///
/// It answers in the Prometheus text format, or in OpenMetrics 1.0 with exemplars when the
/// request's `Accept` prefers `application/openmetrics-text` (see the
/// [crate docs](crate#exemplars-and-openmetrics)); gzip when `Accept-Encoding` allows it.
///
/// # What it records
///
/// The router from [`into_router`](Self::into_router) carries an [`ObsLayer`] of its own, set
/// to [`only_unobserved`](ObsLayer::only_unobserved), on its route and on its fallback. That
/// makes the application's HTTP metrics complete whichever order it is merged in:
///
/// - *after* the application's `.layer(ObsLayer)` (the order the README shows): axum's
///   [`Router::merge`] replaces the application's fallback, which the application's layer
///   wrapped, with this router's. This router's layer then records the requests that match
///   no route (`http_route="unmatched"`, 404), which the application's layer never sees;
/// - *before* it: the application's layer wraps this router too and records those requests
///   itself; this router's layer lets them through, so nothing is counted twice.
///
/// A method a route does not serve (`POST /todos/1`) is answered 405 inside the route, so the
/// application's layer records it under the route's template in either order.
///
/// Scrapes are the monitoring system's requests, not the application's: by default this
/// router's own layer skips its path, so merged after the application's layer, scrapes are
/// not recorded. Merged before it, the application's layer decides, as for any route (list
/// the path in its [`skip_paths`](ObsLayer::skip_paths) to leave them out). To have the same
/// settings either way (skip paths, trusted proxies, trace context, spans) hand the
/// application's layer to [`obs_layer`](Self::obs_layer); then the scrapes are recorded
/// unless its `skip_paths` lists them. [`record_requests(false)`](Self::record_requests) turns
/// this router's recording off. The first `ObsLayer` a request meets decides whether it is
/// recorded.
///
/// A router merged after this one takes the fallback over in turn; give it a layer with
/// [`only_unobserved`](ObsLayer::only_unobserved) as well, or merge it before the
/// application's layer.
///
/// ```
/// use axum::{routing::get, Router};
/// use obs_axum::{MetricsRoute, ObsLayer};
///
/// # fn main() -> Result<(), obs_core::Error> {
/// let telemetry = obs_core::Telemetry::builder("todo-backend").build()?;
/// let layer = ObsLayer::new(&telemetry).skip_paths(["/metrics", "/health"]);
/// let app: Router = Router::new()
///     .route("/todos/{id}", get(|| async { "todo" }))
///     .route("/health", get(|| async { "ok" }))
///     .layer(layer.clone())
///     .merge(MetricsRoute::new(telemetry.metrics()).obs_layer(layer).into_router());
/// # Ok(()) }
/// ```
///
/// On a listener of its own, nothing is recorded:
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let metrics = obs_core::Metrics::new();
/// // Keep metrics off the public port: a second listener, token protected.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
/// obs_axum::MetricsRoute::new(&metrics)
///     .bearer_token("s3cret")
///     .serve(listener)
///     .await
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct MetricsRoute {
    metrics: Metrics,
    path: String,
    token: Option<Arc<[u8]>>,
    record: bool,
    layer: Option<ObsLayer>,
}

impl fmt::Debug for MetricsRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsRoute")
            .field("path", &self.path)
            .field("protected", &self.token.is_some())
            .field("record_requests", &self.record)
            .field("obs_layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl MetricsRoute {
    /// Serves `metrics` on [`DEFAULT_METRICS_PATH`], unprotected.
    pub fn new(metrics: &Metrics) -> Self {
        MetricsRoute {
            metrics: metrics.clone(),
            path: DEFAULT_METRICS_PATH.to_owned(),
            token: None,
            record: true,
            layer: None,
        }
    }

    /// The path to serve on. Defaults to `/metrics`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Requires `Authorization: Bearer <token>`; other requests get 401. Defaults to none.
    pub fn bearer_token(mut self, token: impl AsRef<str>) -> Self {
        self.token = Some(Arc::from(token.as_ref().as_bytes()));
        self
    }

    /// Whether the router records the requests that reach it and that no other [`ObsLayer`]
    /// saw: merged after the application's layer, the requests no route matched (see
    /// [what it records](Self#what-it-records)). Defaults to `true`.
    pub fn record_requests(mut self, enabled: bool) -> Self {
        self.record = enabled;
        self
    }

    /// The layer that records those requests; pass the application's, so that its settings
    /// ([`skip_paths`](ObsLayer::skip_paths), trusted proxies, trace context, spans) apply
    /// to them as well, scrapes included. It is used with
    /// [`only_unobserved`](ObsLayer::only_unobserved) set. Defaults to
    /// [`ObsLayer::from_metrics`] on this route's registry with its defaults, skipping this
    /// route's path (with [`metrics_router`], extracting trace context with the telemetry's
    /// propagators).
    pub fn obs_layer(mut self, layer: ObsLayer) -> Self {
        self.layer = Some(layer);
        self
    }

    /// The router, to merge into the application's.
    pub fn into_router<S>(mut self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let path = self.path.clone();
        let layer = if self.record {
            // A registry that holds foreign metrics of our names leaves the scrapes
            // unrecorded; the application's own layer reports that conflict.
            self.layer.take().or_else(|| {
                ObsLayer::from_metrics(&self.metrics)
                    .ok()
                    .map(|layer| layer.skip_paths([path.as_str()]))
            })
        } else {
            None
        };
        let route = Arc::new(self);
        let router = Router::new().route(
            &path,
            get(move |headers: HeaderMap| {
                let route = Arc::clone(&route);
                async move { route.respond(&headers).await }
            }),
        );
        match layer {
            Some(layer) => router.layer(layer.only_unobserved(true)),
            None => router,
        }
    }

    /// Serves only the metrics route on `listener`, until the task is dropped. Its requests
    /// are not recorded: they are not the application's.
    ///
    /// # Errors
    /// When accepting connections fails.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.record_requests(false).into_router::<()>()).await
    }

    async fn respond(&self, headers: &HeaderMap) -> Response<Body> {
        if let Some(token) = &self.token
            && !authorized(headers, token)
        {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Bearer realm=\"metrics\"")
                .body(Body::from("missing or wrong bearer token\n"))
                .unwrap_or_default();
        }
        let gzip = accepts_gzip(headers);
        let format = crate::negotiate::format(headers.get_all(ACCEPT));
        let metrics = self.metrics.clone();
        // Gathering and compressing is CPU work: keep it off the async workers that serve
        // requests.
        let encoded = tokio::task::spawn_blocking(move || encode(&metrics, format, gzip)).await;
        match encoded {
            Ok(Ok(body)) => {
                let mut response = Response::new(Body::from(body));
                let h = response.headers_mut();
                let content_type = match format {
                    Format::Text => PROMETHEUS_CONTENT_TYPE,
                    Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
                };
                h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                h.insert(VARY, HeaderValue::from_static("accept, accept-encoding"));
                if gzip {
                    h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                response
            }
            Ok(Err(e)) => error_response(&e.to_string()),
            Err(e) => error_response(&e.to_string()),
        }
    }
}

fn encode(metrics: &Metrics, format: Format, gzip: bool) -> Result<Vec<u8>, obs_core::Error> {
    let mut text = Vec::with_capacity(16 * 1024);
    match format {
        Format::Text => metrics.encode_to(&mut text)?,
        Format::OpenMetrics => metrics.encode_openmetrics_to(&mut text)?,
    }
    if !gzip {
        return Ok(text);
    }
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
    encoder
        .write_all(&text)
        .and_then(|()| encoder.finish())
        .map_err(|e| obs_core::Error::Prometheus(obs_core::prometheus::Error::Io(e)))
}

fn error_response(message: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(format!("cannot encode metrics: {message}\n")))
        .unwrap_or_default()
}

/// `Authorization: Bearer <token>`, compared in constant time.
fn authorized(headers: &HeaderMap, token: &[u8]) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).map(HeaderValue::as_bytes) else {
        return false;
    };
    let Some(given) = value
        .strip_prefix(b"Bearer ")
        .or_else(|| value.strip_prefix(b"bearer "))
    else {
        return false;
    };
    constant_time_eq(given, token)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `Accept-Encoding` lists gzip with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !zero
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&headers(&[("accept-encoding", "gzip")])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br, gzip;q=0.5"
        )])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "identity")])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn bearer_token_check() {
        assert!(authorized(
            &headers(&[("authorization", "Bearer abc")]),
            b"abc"
        ));
        assert!(!authorized(
            &headers(&[("authorization", "Bearer abd")]),
            b"abc"
        ));
        assert!(!authorized(
            &headers(&[("authorization", "Basic abc")]),
            b"abc"
        ));
        assert!(!authorized(&headers(&[]), b"abc"));
    }
}
