//! The server span: `{METHOD} {route}` with the semantic-convention attributes, continuing the
//! caller's trace from `traceparent`/`tracestate`.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::{HeaderValue, Request};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Opens the server span of `req`. Returns a disabled span when the subscriber filters it out.
pub(crate) fn make_span<B>(
    req: &Request<B>,
    name: &str,
    method: &str,
    route: &str,
    request_id: Option<&HeaderValue>,
) -> Span {
    let headers = req.headers();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let request_id = request_id.and_then(|v| v.to_str().ok());
    // Values known now are fields from the start: recording them later costs every layer a
    // second pass over the span.
    let span = tracing::info_span!(
        target: "obs_axum",
        "HTTP request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
        http.request_id = request_id,
        url.path = req.uri().path(),
        url.scheme = scheme(req),
        client.address = forwarded_for(req),
        user_agent.original = user_agent,
        error.type = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if forwarded_for(req).is_none()
        && let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
    {
        span.record("client.address", tracing::field::display(addr.ip()));
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(req.headers()))
    });
    if parent.span().span_context().is_valid() {
        // Fails only when the span was already started, which it cannot be here.
        let _ = span.set_parent(parent);
    }
    span
}

/// Records the response status on the span; 5xx marks it as an error.
pub(crate) fn record_status(span: &Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", tracing::field::display(status));
    }
}

/// Marks the span as failed with a bounded error name.
pub(crate) fn record_failure(span: &Span, error_type: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("otel.status_code", "ERROR");
    span.record("error.type", error_type);
}

/// The W3C `traceresponse` value of `span`: `00-{trace-id}-{span-id}-{flags}`.
pub(crate) fn trace_response(span: &Span) -> Option<HeaderValue> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let otel_span = cx.span();
    let sc = otel_span.span_context();
    if !sc.is_valid() {
        return None;
    }
    let value = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    HeaderValue::from_str(&value).ok()
}

fn scheme<B>(req: &Request<B>) -> &str {
    if let Some(proto) = req
        .headers()
        .get("x-forwarded-proto")
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

/// The first address of `X-Forwarded-For`, as the proxy in front (Caddy) reports the client.
fn forwarded_for<B>(req: &Request<B>) -> Option<&str> {
    let value = req.headers().get("x-forwarded-for")?.to_str().ok()?;
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then_some(first)
}
