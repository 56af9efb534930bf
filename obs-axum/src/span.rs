//! The server span: `{METHOD} {route}` with the semantic-convention attributes, continuing the
//! caller's trace from `traceparent`/`tracestate` or starting a new one linked to it.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Request, Uri};
use obs_core::head_sampling::{LogFieldWriter, LogSpanFields, open_with_log_fields};
use obs_core::names::{CUT_MARKER, MAX_URL_PATH_LEN, MAX_USER_AGENT_LEN};
use obs_core::{HeadDecision, LogSpan, SampledSpan};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::client_addr::TrustedProxies;
use crate::extract::extract;
use crate::instruments::{Instruments, RouteEntry};
use crate::layer::Config;

/// What the server span does with the W3C trace context a request carries.
///
/// `traceparent` is written by whoever sends the request. Continued, its sampled flag decides
/// (under the default parent-based sampler) whether the trace is recorded, so a client that
/// sets it on every request forces full sampling past a configured ratio. On an edge that
/// faces the internet, start a new trace instead and keep the caller's as a link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceContext {
    /// The server span's parent is the incoming `traceparent`: the request continues the
    /// caller's trace, and its sampled flag is honoured by a parent-based sampler. For hops
    /// behind your own proxy or from your own services. The default.
    #[default]
    Continue,
    /// Every request starts a new trace; an incoming valid `traceparent` becomes a span link,
    /// not the parent. The sampler sees no remote parent and decides by its own ratio, so a
    /// client cannot force sampling. For public edges.
    NewRootWithLink,
}

/// The server span of a request: a `tracing` span, or, for a request the head sampler
/// dropped, the OpenTelemetry context it runs in instead (`span` is then disabled).
#[derive(Debug)]
pub(crate) struct ServerSpan {
    pub(crate) span: Span,
    pub(crate) unsampled: Option<opentelemetry::Context>,
    /// The context of `span`'s OpenTelemetry span when the head sampler's decision started it
    /// (a new root), or as its first enter activated it (see [`ActivationWatch`]), kept so the
    /// response need not look it up.
    pub(crate) started: Option<opentelemetry::Context>,
}

/// Takes the server span's OpenTelemetry context from the thread as the OpenTelemetry layer
/// activates it on the span's first enter, instead of looking it up through the subscriber at
/// the response (its `downcast_raw` chain, the registry and the span's lock).
///
/// The context current once the span is entered is the span's own only if the layer saw the
/// span and activates contexts (tracing-opentelemetry's default, and obs-core's). The watch
/// therefore compares span ids: a span the layer started has an id of its own; when the id
/// after the enter is the one before (no layer, a per-layer filter that hides the span,
/// activation off) nothing is taken and the response looks the context up as before.
pub(crate) struct ActivationWatch(SpanId);

impl ActivationWatch {
    /// Before the span's first enter; `None` when there is nothing to watch for (a context is
    /// kept already, the request runs unsampled, or the span is disabled).
    pub(crate) fn before_enter(server: &ServerSpan) -> Option<Self> {
        if server.started.is_some() || server.unsampled.is_some() || server.span.is_disabled() {
            return None;
        }
        Some(ActivationWatch(current_span_id()))
    }

    /// Once entered: the current context, when its span is not the one current before.
    pub(crate) fn activated(self) -> Option<opentelemetry::Context> {
        opentelemetry::Context::map_current(|cx| {
            let id = cx.span().span_context().span_id();
            (id != self.0 && id != SpanId::INVALID).then(|| cx.clone())
        })
    }
}

fn current_span_id() -> SpanId {
    opentelemetry::Context::map_current(|cx| cx.span().span_context().span_id())
}

/// What a server span is made of: the request and what the layer has found out about it.
pub(crate) struct SpanRequest<'a, B> {
    pub(crate) req: &'a Request<B>,
    pub(crate) instruments: &'a Arc<Instruments>,
    pub(crate) route: &'a Arc<RouteEntry>,
    pub(crate) method: usize,
    /// The request's id, when the layer sets one (vetted by `request_id::ensure`).
    pub(crate) request_id: Option<&'a HeaderValue>,
    pub(crate) config: &'a Config,
}

impl<B> Clone for SpanRequest<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for SpanRequest<'_, B> {}

/// Opens the server span of `req`. Returns a disabled span when the subscriber filters it out.
///
/// With a head sampler (`ObsLayer::new` over JSON telemetry, see
/// [`HeadSampler`](obs_core::HeadSampler)) the sampler is asked first, and a request it drops
/// gets no `tracing` span: only an unsampled context, which children and log lines read.
///
/// Every attribute taken from the request is bounded: `user_agent.original` and `url.path` are
/// cut to [`MAX_USER_AGENT_LEN`] and [`MAX_URL_PATH_LEN`], `client.address` is a parsed IP
/// address and `http.request_id` was vetted by `request_id::ensure`.
pub(crate) fn make_span<B>(request: &SpanRequest<'_, B>) -> ServerSpan {
    let SpanRequest {
        req,
        instruments,
        route,
        method,
        config,
        ..
    } = *request;
    let name = instruments.span_name(route, method);
    if let Some(head) = &config.head_sampler
        && tracing::span_enabled!(target: "obs_axum", tracing::Level::INFO)
    {
        let remote = extract(req, config);
        let continued = continues(&remote, config);
        let decision = {
            // The parent the OpenTelemetry layer will give the span: the caller's context when
            // it is continued, else the current context (context activation).
            let current;
            let parent = if continued {
                &remote
            } else {
                current = opentelemetry::Context::current();
                &current
            };
            head.decide(parent, name, SpanKind::Server)
        };
        return match decision {
            HeadDecision::Drop(cx) => ServerSpan {
                span: Span::none(),
                unsampled: Some(cx.with_value(LogSpan::new(RequestFields::new(
                    request,
                    Origin::of(request),
                )))),
                started: None,
            },
            HeadDecision::Sample(trace_id) => {
                // Under obs's own subscriber (the head sampler's condition) the log layer
                // writes the span's fields from these values, and only into the lines written
                // inside it, instead of formatting them for every request.
                let origin = Origin::of(request);
                let fields = LogSpan::new(RequestFields::new(request, origin));
                let span = open_with_log_fields(fields, || open(request, origin));
                join(&span, remote, continued);
                let started = obs_core::head_sampling::start_sampled_context(&span, trace_id);
                ServerSpan {
                    span,
                    unsampled: None,
                    started,
                }
            }
        };
    }
    let span = open(request, Origin::of(request));
    if !span.is_disabled() {
        let remote = extract(req, config);
        let continued = continues(&remote, config);
        join(&span, remote, continued);
    }
    ServerSpan {
        span,
        unsampled: None,
        started: None,
    }
}

/// The span, with every value known now as a field: recording them later costs every layer
/// a second pass over the span.
fn open<B>(request: &SpanRequest<'_, B>, origin: Origin) -> Span {
    let SpanRequest {
        req,
        instruments,
        route,
        method,
        request_id,
        ..
    } = *request;
    let user_agent = user_agent(req.headers().get(http::header::USER_AGENT));
    tracing::info_span!(
        target: "obs_axum",
        "HTTP request",
        otel.name = instruments.span_name(route, method),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = instruments.methods.label(method),
        http.route = &*route.route,
        http.response.status_code = Empty,
        http.request_id = request_id.and_then(|v| v.to_str().ok()),
        url.path = &*cut(req.uri().path(), MAX_URL_PATH_LEN),
        url.scheme = origin.scheme,
        client.address = origin.client.map(tracing::field::display),
        user_agent.original = user_agent.as_deref(),
        error.type = Empty,
    )
}

/// `user_agent.original`: the header when it is text, cut to [`MAX_USER_AGENT_LEN`].
fn user_agent(value: Option<&HeaderValue>) -> Option<Cow<'_, str>> {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| cut(v, MAX_USER_AGENT_LEN))
}

/// Whether the span's parent is the caller's context: with [`TraceContext::Continue`], when it
/// has a valid span, or a decision without ids (B3's `b3: 0`), which the parent-based samplers
/// follow while the span starts a trace of its own.
fn continues(remote: &opentelemetry::Context, config: &Config) -> bool {
    config.trace_context == TraceContext::Continue
        && (remote.span().span_context().is_valid() || remote.has_active_span())
}

/// Makes `remote` the span's parent when `continued`, else links to its valid span.
fn join(span: &Span, remote: opentelemetry::Context, continued: bool) {
    if continued {
        // Fails only when the span was already started, which it cannot be here.
        let _ = span.set_parent(remote);
        return;
    }
    let remote_span = remote.span().span_context().clone();
    if remote_span.is_valid() {
        span.add_link(remote_span);
    }
}

/// The fields [`open`] gives the server span, kept as values and written only when a log line
/// is written inside the request: for a request served without a span, and for the span itself
/// under obs's own subscriber (see `obs_core::head_sampling::open_with_log_fields`).
#[derive(Debug)]
struct RequestFields {
    instruments: Arc<Instruments>,
    route: Arc<RouteEntry>,
    method: usize,
    request_id: Option<HeaderValue>,
    path: Uri,
    origin: Origin,
    user_agent: Option<HeaderValue>,
}

/// What the span takes from the connection and the forwarding headers, worked out once for
/// the span and the values kept for its log lines.
#[derive(Debug, Clone, Copy)]
struct Origin {
    scheme: &'static str,
    client: Option<IpAddr>,
}

impl Origin {
    fn of<B>(request: &SpanRequest<'_, B>) -> Self {
        let proxies = &request.config.trusted_proxies;
        Origin {
            scheme: scheme(request.req, proxies),
            client: proxies.client_ip_of(request.req),
        }
    }
}

impl RequestFields {
    fn new<B>(request: &SpanRequest<'_, B>, origin: Origin) -> Self {
        let req = request.req;
        RequestFields {
            instruments: Arc::clone(request.instruments),
            route: Arc::clone(request.route),
            method: request.method,
            request_id: request.request_id.cloned(),
            path: req.uri().clone(),
            origin,
            user_agent: req.headers().get(http::header::USER_AGENT).cloned(),
        }
    }

    fn span_name(&self) -> &str {
        self.instruments.span_name(&self.route, self.method)
    }

    fn method(&self) -> &str {
        self.instruments.methods.label(self.method)
    }

    fn request_id(&self) -> Option<&str> {
        self.request_id.as_ref().and_then(|v| v.to_str().ok())
    }
}

impl LogSpanFields for RequestFields {
    fn name(&self) -> &'static str {
        "HTTP request"
    }

    /// The fields [`open`] gives the span, in its order, those it leaves empty left out.
    fn write(&self, out: &mut LogFieldWriter<'_>) {
        out.str("otel.name", self.span_name());
        out.str("otel.kind", "server");
        out.str("http.request.method", self.method());
        out.str("http.route", &self.route.route);
        if let Some(id) = self.request_id() {
            out.str("http.request_id", id);
        }
        out.str("url.path", &cut(self.path.path(), MAX_URL_PATH_LEN));
        out.str("url.scheme", self.origin.scheme);
        if let Some(client) = &self.origin.client {
            out.display("client.address", client);
        }
        if let Some(user_agent) = user_agent(self.user_agent.as_ref()) {
            out.str("user_agent.original", &user_agent);
        }
    }
}

/// The W3C response header carrying the trace id.
pub(crate) const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// `value` if it is at most `max` bytes, else its longest prefix that fits with
/// [`CUT_MARKER`] appended, cut on a character boundary.
pub(crate) fn cut(value: &str, max: usize) -> Cow<'_, str> {
    obs_core::text::cut(value, max, CUT_MARKER)
}

/// Records the response status on the span; 5xx marks it as an error.
///
/// Below 500 the status goes straight onto the OpenTelemetry span: a recorded field costs
/// every layer of the subscriber a pass over the span, and only log lines written after the
/// response head (while the body streams) would show it in their `span` object. A server
/// error is recorded as fields, so those lines do show it and `error.type`.
pub(crate) fn record_status(span: &Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    if status < 500 {
        span.set_attribute(STATUS_CODE, i64::from(status));
        return;
    }
    span.record(STATUS_CODE, i64::from(status));
    span.record("otel.status_code", "ERROR");
    span.record("error.type", tracing::field::display(status));
}

/// [`record_status`] for the server span, returning its OpenTelemetry context (see
/// [`otel_context`]) when `needed` (for `traceresponse` or an exemplar). Each lookup goes
/// through the subscriber's `downcast_raw` chain, the registry and the span's lock, so below
/// 500 the status attribute and `traceresponse` share one. A server error's fields are
/// recorded before the lookup, as they were before the lookups were shared.
pub(crate) fn record_status_and_look_up(
    server: &ServerSpan,
    status: u16,
    needed: bool,
) -> Option<Cow<'_, opentelemetry::Context>> {
    // With the context at hand, a status below 500 goes onto it without a lookup.
    if (!needed && server.started.is_none()) || status >= 500 {
        record_status(&server.span, status);
        return needed.then(|| otel_context(server)).flatten();
    }
    let otel = otel_context(server);
    if server.unsampled.is_none()
        && let Some(cx) = &otel
    {
        cx.span()
            .set_attribute(KeyValue::new(STATUS_CODE, i64::from(status)));
    }
    otel
}

const STATUS_CODE: &str = "http.response.status_code";

/// Marks the span as failed with a bounded error name.
pub(crate) fn record_failure(span: &Span, error_type: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

/// The OpenTelemetry context of the server span, looked up once per response: the context
/// of its `tracing` span (empty without an OpenTelemetry layer), or the unsampled context of
/// a request the head sampler dropped. `None` when the span is disabled.
pub(crate) fn otel_context(server: &ServerSpan) -> Option<Cow<'_, opentelemetry::Context>> {
    if let Some(cx) = server.unsampled.as_ref().or(server.started.as_ref()) {
        return Some(Cow::Borrowed(cx));
    }
    (!server.span.is_disabled()).then(|| Cow::Owned(server.span.context()))
}

/// The W3C `traceresponse` value (when `header`) and, when the span is sampled, the ids an
/// exemplar links to (when `exemplar`), from the server span's context (see [`otel_context`]).
/// The context of a request the head sampler dropped is unsampled: no exemplar.
pub(crate) fn response_trace(
    otel: Option<&opentelemetry::Context>,
    header: bool,
    exemplar: bool,
) -> (Option<HeaderValue>, Option<SampledSpan>) {
    let Some(cx) = otel else {
        return (None, None);
    };
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    let value = header.then(|| trace_response(sc)).flatten();
    let sampled = exemplar
        .then(|| SampledSpan::from_span_context(sc))
        .flatten();
    (value, sampled)
}

/// The W3C `traceresponse` value of `sc`: `00-{trace-id}-{span-id}-{flags}`.
fn trace_response(sc: &SpanContext) -> Option<HeaderValue> {
    if !sc.is_valid() {
        return None;
    }
    // Hex-encoded on the stack: the value is copied once, into the header.
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
    crate::request_id::hex(&sc.trace_id().to_bytes(), &mut buf[3..35]);
    crate::request_id::hex(&sc.span_id().to_bytes(), &mut buf[36..52]);
    crate::request_id::hex(&[sc.trace_flags().to_u8()], &mut buf[53..]);
    HeaderValue::from_bytes(&buf).ok()
}

/// `url.scheme`: the request's own, or `X-Forwarded-Proto` when a trusted proxy handed the
/// request on. Like `X-Forwarded-For`, the header is whatever the sender wrote; from anyone
/// else it is ignored (and not even looked up when no proxy is trusted, the default).
fn scheme<B>(req: &Request<B>, proxies: &TrustedProxies) -> &'static str {
    if !proxies.is_empty()
        && proxies.peer_is_trusted(req)
        && let Some(proto) = req
            .headers()
            .get(X_FORWARDED_PROTO)
            .and_then(|v| v.to_str().ok())
    {
        return match proto.trim() {
            "https" => "https",
            _ => "http",
        };
    }
    match req.uri().scheme_str() {
        Some("https") => "https",
        _ => "http",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_over_the_limit_are_cut_with_the_marker() {
        assert_eq!(cut("short", 10), "short");
        assert!(matches!(cut("0123456789", 10), Cow::Borrowed(_)));
        assert_eq!(cut("0123456789a", 10), "0123456…");
        assert_eq!(cut("0123456789a", 10).len(), 10);
        // "é" is two bytes: it does not fit in the 7 before the marker and is left out whole.
        assert_eq!(cut("012345é89ab", 10), "012345…");
        let long = "ü".repeat(40_000);
        let cut_long = cut(&long, MAX_USER_AGENT_LEN);
        assert!(cut_long.len() <= MAX_USER_AGENT_LEN);
        assert_eq!(cut_long, format!("{}…", "ü".repeat(126)));
    }
}
