//! Custom labels: values the application takes from a request or its response (a tenant, an
//! API version, a plan) added to the HTTP duration and body-size histograms and to the server
//! span, from a set of values declared up front so the series count stays bounded.
//!
//! A value outside the declared set is recorded as
//! [`CUSTOM_LABEL_OTHER`](obs_core::names::CUSTOM_LABEL_OTHER) (`other`); an absent or empty
//! one as the empty string (in Prometheus, the same as no label). What a request carries is
//! matched against the declared values and never copied into a label or a span.

use std::sync::Arc;

use http::{Extensions, HeaderMap, HeaderName, StatusCode};
use obs_core::names::{
    CUSTOM_LABEL_OTHER, MAX_CUSTOM_LABEL_COMBINATIONS, MAX_CUSTOM_LABEL_VALUE_LEN,
    MAX_CUSTOM_LABEL_VALUES, MAX_CUSTOM_LABELS, is_reserved_label_name, is_valid_label_name,
};
use opentelemetry::{Key, StringValue, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::route::RouteRequest;

/// Reads a request's value of a custom label; see [`CustomLabel::request`].
type RequestFn = dyn for<'r> Fn(&'r RouteRequest<'_>) -> Option<&'r str> + Send + Sync;
/// Reads a response's value of a custom label; see [`CustomLabel::response`].
type ResponseFn = dyn for<'r> Fn(&'r ResponseHead<'_>) -> Option<&'r str> + Send + Sync;

/// A label the application adds to the HTTP duration and body-size histograms and the server
/// span, with the values it may take. Give a list of them to
/// [`ObsLayer::with_labels`](crate::ObsLayer::with_labels).
///
/// The value comes from a request header, from the request head (its extensions, say, where
/// an authentication layer left the tenant), or from the response head (an extension the
/// handler set). A value outside those given to [`values`](Self::values) is recorded as
/// `other`, an absent or empty one as the empty string, so the series count is bounded by
/// what the application declares, never by what clients send.
///
/// ```
/// use axum::{routing::get, Extension, Router};
/// use obs_axum::{CustomLabel, ObsLayer, ResponseHead, RouteRequest};
///
/// #[derive(Clone)]
/// struct Tenant(String);
/// #[derive(Clone)]
/// struct Plan(&'static str);
///
/// # fn main() -> Result<(), obs_axum::CustomLabelError> {
/// let metrics = obs_core::Metrics::new();
/// let layer = ObsLayer::from_metrics_with_labels(
///     &metrics,
///     [
///         CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
///         CustomLabel::request("tenant", |req: &RouteRequest<'_>| {
///             req.extensions.get::<Tenant>().map(|t| t.0.as_str())
///         })
///         .values(["acme", "globex"]),
///         CustomLabel::response("plan", |res: &ResponseHead<'_>| {
///             res.extensions.get::<Plan>().map(|p| p.0)
///         })
///         .values(["free", "pro"]),
///     ],
/// )?;
/// let app: Router = Router::new()
///     .route("/report", get(|| async { (Extension(Plan("pro")), "report") }))
///     .layer(layer);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct CustomLabel {
    name: String,
    source: Source,
    values: Vec<String>,
}

#[derive(Clone)]
enum Source {
    /// A header name as given, parsed when the layer is built.
    Header(String),
    Request(Arc<RequestFn>),
    Response(Arc<ResponseFn>),
}

impl std::fmt::Debug for CustomLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Header(header) => header.as_str(),
            Source::Request(_) => "request",
            Source::Response(_) => "response",
        };
        f.debug_struct("CustomLabel")
            .field("name", &self.name)
            .field("source", &source)
            .field("values", &self.values)
            .finish()
    }
}

/// The parts of a response a [`CustomLabel::response`] function may look at.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ResponseHead<'a> {
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: &'a HeaderMap,
    /// The response extensions, where a handler can leave a value for a label (axum's
    /// [`Extension`](axum::Extension) in a response tuple puts it there).
    pub extensions: &'a Extensions,
}

impl CustomLabel {
    /// The label `name`, whose value is the request header `header` (the first one, if the
    /// request repeats it). A value that is not visible ASCII is `other`.
    pub fn request_header(name: impl Into<String>, header: impl Into<String>) -> Self {
        CustomLabel {
            name: name.into(),
            source: Source::Header(header.into()),
            values: Vec::new(),
        }
    }

    /// The label `name`, whose value `value` reads from the request head when the request
    /// arrives: from an extension an earlier layer set, a header, the URI. It runs once per
    /// request on the request path, so it should only look things up. Return a value that
    /// borrows from the request, or one of the declared values as a `&'static str`.
    pub fn request<F>(name: impl Into<String>, value: F) -> Self
    where
        F: for<'r> Fn(&'r RouteRequest<'_>) -> Option<&'r str> + Send + Sync + 'static,
    {
        CustomLabel {
            name: name.into(),
            source: Source::Request(Arc::new(value)),
            values: Vec::new(),
        }
    }

    /// The label `name`, whose value `value` reads from the response head when the response
    /// starts: its status, headers or extensions. A request that ends without a response
    /// (an error of the inner service, a panic, a cancellation) records it empty.
    pub fn response<F>(name: impl Into<String>, value: F) -> Self
    where
        F: for<'r> Fn(&'r ResponseHead<'_>) -> Option<&'r str> + Send + Sync + 'static,
    {
        CustomLabel {
            name: name.into(),
            source: Source::Response(Arc::new(value)),
            values: Vec::new(),
        }
    }

    /// The values the label may take: 1 to
    /// [`MAX_CUSTOM_LABEL_VALUES`](obs_core::names::MAX_CUSTOM_LABEL_VALUES) distinct,
    /// non-empty values of at most
    /// [`MAX_CUSTOM_LABEL_VALUE_LEN`](obs_core::names::MAX_CUSTOM_LABEL_VALUE_LEN) bytes,
    /// other than `other`. Matched exactly (case included). Replaces earlier calls' values.
    pub fn values<I, V>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.values = values.into_iter().map(Into::into).collect();
        self
    }
}

/// Why a set of custom labels was refused. Each names the label (and value) to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CustomLabelError {
    /// More labels than [`MAX_CUSTOM_LABELS`](obs_core::names::MAX_CUSTOM_LABELS).
    #[error("{count} custom labels given; at most {MAX_CUSTOM_LABELS} are allowed")]
    TooManyLabels {
        /// How many were given.
        count: usize,
    },
    /// A name that is not a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    #[error("custom label name {name:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")]
    InvalidName {
        /// The label.
        name: String,
    },
    /// A built-in label name, `le`, or a name starting with `__`
    /// ([`RESERVED_LABEL_NAMES`](obs_core::names::RESERVED_LABEL_NAMES)).
    #[error("custom label name {name:?} is reserved; choose another name")]
    ReservedName {
        /// The label.
        name: String,
    },
    /// Two labels of the same name.
    #[error("custom label {name:?} is given twice")]
    DuplicateName {
        /// The label.
        name: String,
    },
    /// The header of [`CustomLabel::request_header`] is not a valid header name.
    #[error("custom label {name:?}: {header:?} is not a valid header name")]
    InvalidHeader {
        /// The label.
        name: String,
        /// The header name as given.
        header: String,
    },
    /// No values declared with [`CustomLabel::values`].
    #[error("custom label {name:?} declares no values; list them with `.values([..])`")]
    NoValues {
        /// The label.
        name: String,
    },
    /// More values than [`MAX_CUSTOM_LABEL_VALUES`](obs_core::names::MAX_CUSTOM_LABEL_VALUES).
    #[error(
        "custom label {name:?} declares {count} values; at most {MAX_CUSTOM_LABEL_VALUES} are allowed"
    )]
    TooManyValues {
        /// The label.
        name: String,
        /// How many were declared.
        count: usize,
    },
    /// An empty value: that is what an absent value is recorded as.
    #[error("custom label {name:?} declares an empty value; absent values are recorded empty")]
    EmptyValue {
        /// The label.
        name: String,
    },
    /// A value longer than
    /// [`MAX_CUSTOM_LABEL_VALUE_LEN`](obs_core::names::MAX_CUSTOM_LABEL_VALUE_LEN) bytes.
    #[error(
        "custom label {name:?}: value {value:?} is longer than {MAX_CUSTOM_LABEL_VALUE_LEN} bytes"
    )]
    ValueTooLong {
        /// The label.
        name: String,
        /// The value.
        value: String,
    },
    /// The value `other`, which stands for every undeclared value.
    #[error(
        "custom label {name:?} declares {CUSTOM_LABEL_OTHER:?}, the value of undeclared values"
    )]
    ReservedValue {
        /// The label.
        name: String,
    },
    /// A value declared twice.
    #[error("custom label {name:?} declares {value:?} twice")]
    DuplicateValue {
        /// The label.
        name: String,
        /// The value.
        value: String,
    },
    /// More value combinations than
    /// [`MAX_CUSTOM_LABEL_COMBINATIONS`](obs_core::names::MAX_CUSTOM_LABEL_COMBINATIONS):
    /// the product over the labels of their declared values plus two.
    #[error(
        "custom labels allow {combinations} value combinations (declared values + 2, multiplied); \
         at most {MAX_CUSTOM_LABEL_COMBINATIONS} are allowed: declare fewer values or labels"
    )]
    TooManyCombinations {
        /// The product.
        combinations: u64,
    },
    /// The HTTP families could not be registered: they exist with other custom labels
    /// ([`obs_core::Error::HttpLabelsRegistered`]), or the registry holds a foreign metric of
    /// one of their names.
    #[error(transparent)]
    Registry(#[from] obs_core::Error),
}

/// One custom label's slot per label: [`EMPTY`], [`OTHER`], or `FIRST_DECLARED + i` for
/// declared value `i`. Small and `Copy`, so the handle cache keys on it without hashing
/// strings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CustomKey([u8; MAX_CUSTOM_LABELS]);

impl std::hash::Hash for CustomKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // One word, not a slice (its length and then its bytes): every request of a layer,
        // with custom labels or without, hashes this key in the handle cache.
        state.write_u32(u32::from_ne_bytes(self.0));
    }
}

const EMPTY: u8 = 0;
const OTHER: u8 = 1;
const FIRST_DECLARED: u8 = 2;

/// The custom labels of a layer, checked and ready for the request path.
#[derive(Default)]
pub(crate) struct CustomLabels {
    labels: Box<[Compiled]>,
}

struct Compiled {
    name: Box<str>,
    /// The span attribute key: the label name.
    key: Key,
    values: Box<[Arc<str>]>,
    source: Reader,
}

enum Reader {
    Header(HeaderName),
    Request(Arc<RequestFn>),
    Response(Arc<ResponseFn>),
}

impl std::fmt::Debug for CustomLabels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.labels.iter().map(|l| &l.name))
            .finish()
    }
}

impl CustomLabels {
    /// Checks `labels` against the limits of [`obs_core::names`].
    pub(crate) fn new(labels: Vec<CustomLabel>) -> Result<Self, CustomLabelError> {
        if labels.len() > MAX_CUSTOM_LABELS {
            return Err(CustomLabelError::TooManyLabels {
                count: labels.len(),
            });
        }
        let mut compiled: Vec<Compiled> = Vec::with_capacity(labels.len());
        let mut combinations: u64 = 1;
        for label in labels {
            let name = label.name;
            if !is_valid_label_name(&name) {
                return Err(CustomLabelError::InvalidName { name });
            }
            if is_reserved_label_name(&name) {
                return Err(CustomLabelError::ReservedName { name });
            }
            if compiled.iter().any(|c| *c.name == *name) {
                return Err(CustomLabelError::DuplicateName { name });
            }
            let source = match label.source {
                Source::Header(header) => match HeaderName::from_bytes(header.as_bytes()) {
                    Ok(header) => Reader::Header(header),
                    Err(_) => return Err(CustomLabelError::InvalidHeader { name, header }),
                },
                Source::Request(f) => Reader::Request(f),
                Source::Response(f) => Reader::Response(f),
            };
            let values = check_values(&name, label.values)?;
            combinations = combinations.saturating_mul(values.len() as u64 + 2);
            compiled.push(Compiled {
                key: Key::new(name.clone()),
                name: name.into_boxed_str(),
                values,
                source,
            });
        }
        if combinations > MAX_CUSTOM_LABEL_COMBINATIONS as u64 {
            return Err(CustomLabelError::TooManyCombinations { combinations });
        }
        Ok(CustomLabels {
            labels: compiled.into(),
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The label names, in the order of the families' custom labels.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.labels.iter().map(|l| &*l.name).collect()
    }

    /// The slots of the labels read from the request; the others are empty.
    pub(crate) fn of_request(&self, req: &RouteRequest<'_>) -> CustomKey {
        let mut key = CustomKey::default();
        for (slot, label) in key.0.iter_mut().zip(self.labels.iter()) {
            *slot = match &label.source {
                Reader::Header(header) => match req.headers.get(header) {
                    None => EMPTY,
                    Some(value) => value.to_str().map_or(OTHER, |v| label.slot(Some(v))),
                },
                Reader::Request(f) => label.slot(f(req)),
                Reader::Response(_) => EMPTY,
            };
        }
        key
    }

    /// Fills in the slots of the labels read from the response.
    pub(crate) fn of_response(&self, key: &mut CustomKey, res: &ResponseHead<'_>) {
        for (slot, label) in key.0.iter_mut().zip(self.labels.iter()) {
            if let Reader::Response(f) = &label.source {
                *slot = label.slot(f(res));
            }
        }
    }

    /// Sets the span attributes of the labels from the request (`response` false) or the
    /// response (`response` true) that have a value.
    pub(crate) fn record(&self, span: &tracing::Span, key: CustomKey, response: bool) {
        if span.is_disabled() {
            return;
        }
        for (slot, label) in key.0.iter().zip(self.labels.iter()) {
            if matches!(label.source, Reader::Response(_)) != response {
                continue;
            }
            let value = match *slot {
                EMPTY => continue,
                OTHER => Value::from(CUSTOM_LABEL_OTHER),
                declared => match label.values.get(usize::from(declared - FIRST_DECLARED)) {
                    Some(v) => Value::String(StringValue::from(Arc::clone(v))),
                    None => continue,
                },
            };
            span.set_attribute(label.key.clone(), value);
        }
    }

    /// The label values of `key`, in order, for the families' custom labels.
    pub(crate) fn values(&self, key: CustomKey) -> [&str; MAX_CUSTOM_LABELS] {
        let mut values = [""; MAX_CUSTOM_LABELS];
        for ((value, slot), label) in values.iter_mut().zip(key.0).zip(self.labels.iter()) {
            *value = match slot {
                EMPTY => "",
                OTHER => CUSTOM_LABEL_OTHER,
                declared => label
                    .values
                    .get(usize::from(declared - FIRST_DECLARED))
                    .map_or(CUSTOM_LABEL_OTHER, |v| v),
            };
        }
        values
    }

    /// How many labels there are: the length of [`values`](Self::values) that counts.
    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }
}

impl Compiled {
    /// The slot of `value`: a linear scan of at most [`MAX_CUSTOM_LABEL_VALUES`] short
    /// strings, which compares lengths first, cheaper than hashing the value.
    fn slot(&self, value: Option<&str>) -> u8 {
        match value {
            None | Some("") => EMPTY,
            Some(value) => self
                .values
                .iter()
                .position(|v| **v == *value)
                // Below MAX_CUSTOM_LABEL_VALUES (64), so it fits with the offset.
                .and_then(|i| u8::try_from(i).ok())
                .map_or(OTHER, |i| i + FIRST_DECLARED),
        }
    }
}

fn check_values(name: &str, values: Vec<String>) -> Result<Box<[Arc<str>]>, CustomLabelError> {
    let name = || name.to_owned();
    if values.is_empty() {
        return Err(CustomLabelError::NoValues { name: name() });
    }
    if values.len() > MAX_CUSTOM_LABEL_VALUES {
        return Err(CustomLabelError::TooManyValues {
            name: name(),
            count: values.len(),
        });
    }
    for (i, value) in values.iter().enumerate() {
        if value.is_empty() {
            return Err(CustomLabelError::EmptyValue { name: name() });
        }
        if value.len() > MAX_CUSTOM_LABEL_VALUE_LEN {
            return Err(CustomLabelError::ValueTooLong {
                name: name(),
                value: value.clone(),
            });
        }
        if value == CUSTOM_LABEL_OTHER {
            return Err(CustomLabelError::ReservedValue { name: name() });
        }
        if values[..i].contains(value) {
            return Err(CustomLabelError::DuplicateValue {
                name: name(),
                value: value.clone(),
            });
        }
    }
    Ok(values.into_iter().map(Arc::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(headers: &'a HeaderMap, extensions: &'a Extensions) -> RouteRequest<'a> {
        static METHOD: http::Method = http::Method::GET;
        static URI: std::sync::LazyLock<http::Uri> =
            std::sync::LazyLock::new(|| http::Uri::from_static("/"));
        RouteRequest {
            method: &METHOD,
            uri: &URI,
            headers,
            extensions,
        }
    }

    #[test]
    fn header_values_map_to_declared_other_or_empty() {
        let labels = CustomLabels::new(vec![
            CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
        ])
        .unwrap();
        let extensions = Extensions::new();
        let mut headers = HeaderMap::new();
        let value_of = |headers: &HeaderMap| {
            let key = labels.of_request(&request(headers, &extensions));
            labels.values(key)[0]
        };
        assert_eq!(value_of(&headers), "");
        headers.insert("x-api-version", "v2".parse().unwrap());
        assert_eq!(value_of(&headers), "v2");
        headers.insert("x-api-version", "V2".parse().unwrap());
        assert_eq!(value_of(&headers), "other");
        headers.insert("x-api-version", "".parse().unwrap());
        assert_eq!(value_of(&headers), "");
        headers.insert(
            "x-api-version",
            http::HeaderValue::from_bytes(b"v\xff").unwrap(),
        );
        assert_eq!(value_of(&headers), "other");
    }
}
