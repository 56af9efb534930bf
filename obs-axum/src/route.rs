//! Route extraction and method normalisation: the two inputs that keep label cardinality bounded.
//!
//! # Cardinality considerations
//!
//! `http_route` must be a route *template* (`/todos/{id}`), never the path a client sent
//! (`/todos/123`): every distinct label value is a new time series in Prometheus, so raw paths
//! let any client create series without bound. The default extractor reads axum's
//! [`MatchedPath`], which is the template; requests that matched no
//! route are labelled [`ROUTE_UNMATCHED`](obs_core::names::ROUTE_UNMATCHED). A custom
//! [`RouteExtractor`] must keep the same promise.
//!
//! Methods are normalised the same way: anything outside the known set becomes
//! [`METHOD_OTHER`], so a client sending random method tokens
//! cannot grow the series count either.

use std::borrow::Cow;

use axum::extract::MatchedPath;
use http::{Extensions, HeaderMap, Method, Uri};
use obs_core::names::{KNOWN_HTTP_METHODS, METHOD_OTHER};

/// The environment variable that replaces the known method set (comma separated), as the
/// OpenTelemetry HTTP conventions specify.
pub const KNOWN_METHODS_ENV: &str = "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS";

/// The parts of a request a [`RouteExtractor`] or a [`CustomLabel::request`](crate::CustomLabel::request)
/// function may look at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RouteRequest<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The request extensions, where routers leave what they matched.
    pub extensions: &'a Extensions,
}

/// Finds the route template of a request, for the `http_route` label and the span name.
///
/// Return `None` when the request matched no route; it is then labelled `unmatched`.
/// Implemented for closures returning `Option<Cow<'static, str>>`:
///
/// ```
/// use std::borrow::Cow;
/// use obs_axum::{ObsLayer, RouteRequest};
///
/// // A non-axum stack that knows its templates by path prefix.
/// let layer = ObsLayer::from_metrics(&obs_core::Metrics::new())?
///     .route_extractor(|req: &RouteRequest<'_>| {
///         req.uri.path().starts_with("/users/").then(|| Cow::Borrowed("/users/{id}"))
///     });
/// # drop(layer);
/// # Ok::<(), obs_core::Error>(())
/// ```
pub trait RouteExtractor: Send + Sync + 'static {
    /// The route template of `req`, if it matched one.
    fn extract<'a>(&self, req: &RouteRequest<'a>) -> Option<Cow<'a, str>>;
}

impl<F> RouteExtractor for F
where
    F: Fn(&RouteRequest<'_>) -> Option<Cow<'static, str>> + Send + Sync + 'static,
{
    fn extract<'a>(&self, req: &RouteRequest<'a>) -> Option<Cow<'a, str>> {
        self(req)
    }
}

/// The default extractor: axum's [`MatchedPath`], which holds the template of the matched
/// route, nested routers included.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchedPathExtractor;

impl RouteExtractor for MatchedPathExtractor {
    fn extract<'a>(&self, req: &RouteRequest<'a>) -> Option<Cow<'a, str>> {
        req.extensions
            .get::<MatchedPath>()
            .map(|m| Cow::Borrowed(m.as_str()))
    }
}

/// The set of methods kept as label values; everything else is `_OTHER`.
#[derive(Debug, Clone)]
pub(crate) struct KnownMethods {
    names: Box<[Box<str>]>,
}

impl KnownMethods {
    /// The OpenTelemetry default set, or the one in `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`.
    pub(crate) fn from_env() -> Self {
        match std::env::var(KNOWN_METHODS_ENV) {
            Ok(list) if !list.trim().is_empty() => Self::new(list.split(',')),
            _ => Self::new(KNOWN_HTTP_METHODS.iter().copied()),
        }
    }

    pub(crate) fn new<I, S>(methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut names: Vec<Box<str>> = methods
            .into_iter()
            .map(|m| m.as_ref().trim().to_owned())
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_graphic()))
            .map(String::into_boxed_str)
            .collect();
        names.sort();
        names.dedup();
        KnownMethods {
            names: names.into_boxed_slice(),
        }
    }

    /// Index of `method` in the label table; `len()` stands for `_OTHER`.
    pub(crate) fn index(&self, method: &Method) -> usize {
        let m = method.as_str();
        self.names
            .iter()
            .position(|n| &**n == m)
            .unwrap_or(self.names.len())
    }

    /// Number of label values, `_OTHER` included.
    pub(crate) fn len(&self) -> usize {
        self.names.len() + 1
    }

    /// The label value of index `i`.
    pub(crate) fn label(&self, i: usize) -> &str {
        self.names.get(i).map_or(METHOD_OTHER, |n| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_become_other() {
        let methods = KnownMethods::new(KNOWN_HTTP_METHODS.iter().copied());
        let get = methods.index(&Method::GET);
        assert_eq!(methods.label(get), "GET");
        let patch = methods.index(&Method::PATCH);
        assert_eq!(methods.label(patch), "PATCH");
        let query = methods.index(&Method::from_bytes(b"QUERY").unwrap());
        assert_eq!(methods.label(query), "QUERY");
        let odd = methods.index(&Method::from_bytes(b"BREW").unwrap());
        assert_eq!(methods.label(odd), METHOD_OTHER);
        assert_eq!(methods.len(), KNOWN_HTTP_METHODS.len() + 1);
    }

    #[test]
    fn custom_method_set() {
        let methods = KnownMethods::new(["GET", " PURGE ", "", "bad method"]);
        assert_eq!(methods.len(), 3);
        let purge = methods.index(&Method::from_bytes(b"PURGE").unwrap());
        assert_eq!(methods.label(purge), "PURGE");
        assert_eq!(methods.label(methods.index(&Method::POST)), METHOD_OTHER);
    }
}
