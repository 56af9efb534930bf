//! [`ClientService`]: opens the client span, injects its context and starts the clock.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response, Uri};
use obs_core::names::{KNOWN_HTTP_METHODS, MAX_URL_FULL_LEN, METHOD_OTHER};
use opentelemetry_http::HeaderInjector;
use tower_service::Service;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::client::future::{Pending, ResponseFuture};
use crate::client::layer::ClientLayer;
use crate::span::cut;

/// The service made by [`ClientLayer`]: instruments every request sent through `S`.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    layer: ClientLayer,
}

impl<S> ClientService<S> {
    pub(crate) fn new(inner: S, layer: ClientLayer) -> Self {
        ClientService { inner, layer }
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped client, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped client, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ClientService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: std::error::Error + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let started = Instant::now();
        let target = Target::of(&req);
        let instruments = self.layer.instruments.clone();
        let method = instruments
            .as_ref()
            .map_or(0, |i| i.methods.index(req.method()));
        let address = instruments
            .as_ref()
            .map_or(0, |i| i.address(target.host.as_deref()));
        let span = if self.layer.spans {
            let label = match &instruments {
                Some(i) => i.methods.label(method),
                None => fallback_method_label(req.method().as_str()),
            };
            make_span(&req, label, &target)
        } else {
            Span::none()
        };
        if self.layer.propagate {
            let current = Span::current();
            let cx = if !span.is_disabled() {
                span.context()
            } else if !current.is_none() {
                current.context()
            } else {
                // No span at all: a server request the head sampler dropped runs in an
                // unsampled context, which goes on downstream with `sampled=0`.
                opentelemetry::Context::current()
            };
            let mut injector = HeaderInjector(req.headers_mut());
            match &self.layer.propagator {
                Some(propagator) => propagator.inject_context(&cx, &mut injector),
                None => opentelemetry::global::get_text_map_propagator(|propagator| {
                    propagator.inject_context(&cx, &mut injector);
                }),
            }
        }
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(
            future,
            Pending {
                instruments,
                method,
                address,
                port: target.port,
                started,
                span,
            },
        )
    }
}

/// `method` if it is one of the default known methods, else `_OTHER` (only used when the
/// metric family could not be registered).
fn fallback_method_label(method: &str) -> &str {
    if KNOWN_HTTP_METHODS.contains(&method) {
        method
    } else {
        METHOD_OTHER
    }
}

/// Where a request goes: from its URI, or its `Host` header when the URI is relative.
#[derive(Debug)]
struct Target {
    scheme: &'static str,
    host: Option<String>,
    port: u16,
    explicit_port: bool,
}

impl Target {
    fn of<B>(req: &Request<B>) -> Self {
        let uri = req.uri();
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let from_header = || {
            req.headers()
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<http::uri::Authority>().ok())
        };
        let (host, port) = match uri.host() {
            Some(host) => (
                Some(crate::client::layer::normalise_host(host)),
                uri.port_u16(),
            ),
            None => match from_header() {
                Some(a) => (
                    Some(crate::client::layer::normalise_host(a.host())),
                    a.port_u16(),
                ),
                None => (None, None),
            },
        };
        Target {
            scheme,
            host,
            port: port.unwrap_or(default_port),
            explicit_port: port.is_some(),
        }
    }

    /// `scheme://host[:port]/path`: user info and query left out.
    fn url_full(&self, uri: &Uri) -> String {
        let Some(host) = &self.host else {
            return uri.path().to_owned();
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        if self.explicit_port {
            format!("{}://{host}:{}{}", self.scheme, self.port, uri.path())
        } else {
            format!("{}://{host}{}", self.scheme, uri.path())
        }
    }
}

fn make_span<B>(req: &Request<B>, method_label: &str, target: &Target) -> Span {
    let name = if method_label == METHOD_OTHER {
        "HTTP"
    } else {
        method_label
    };
    let url = target.url_full(req.uri());
    tracing::info_span!(
        target: "obs_axum::client",
        "HTTP client request",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = method_label,
        server.address = target.host.as_deref().map(|h| cut(h, MAX_URL_FULL_LEN)).as_deref(),
        server.port = i64::from(target.port),
        url.full = &*cut(&url, MAX_URL_FULL_LEN),
        http.response.status_code = Empty,
        error.type = Empty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str, host: Option<&str>) -> (Target, String) {
        let mut builder = Request::get(uri);
        if let Some(h) = host {
            builder = builder.header("host", h);
        }
        let req = builder.body(()).unwrap();
        let t = Target::of(&req);
        let url = t.url_full(req.uri());
        (t, url)
    }

    #[test]
    fn targets_from_uri_and_host_header() {
        let (t, url) = target("https://user:pw@API.Example.com/a/b?token=secret", None);
        assert_eq!((t.host.as_deref(), t.port), (Some("api.example.com"), 443));
        assert_eq!(url, "https://api.example.com/a/b");
        let (t, url) = target("http://[::1]:8080/x", None);
        assert_eq!((t.host.as_deref(), t.port), (Some("::1"), 8080));
        assert_eq!(url, "http://[::1]:8080/x");
        let (t, url) = target("/relative?q=1", Some("svc-b:9000"));
        assert_eq!((t.host.as_deref(), t.port), (Some("svc-b"), 9000));
        assert_eq!(url, "http://svc-b:9000/relative");
        let (t, url) = target("/relative", None);
        assert_eq!((t.host, t.port), (None, 80));
        assert_eq!(url, "/relative");
    }
}
