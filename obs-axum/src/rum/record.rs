//! What a batch becomes: web-vital histograms, exception and event counters, `tracing` events.

use std::fmt::Write as _;
use std::time::Instant;

use obs_core::RumMetrics;
use obs_core::names::{BROWSER_ERROR_TYPES, RUM_OTHER, WEB_VITAL_RATINGS};
use obs_core::prometheus::HistogramVec;
use serde_json::Value;

use super::payload::{Exception, Frame, Log, Payload, TraceContext};
use super::receiver::Shared;
use super::source_map::SourceMaps;

/// The `tracing` target of every event the receiver emits.
const TARGET: &str = "obs_axum::rum";
/// Longest message, URL or id written to a `tracing` event, in bytes.
const MAX_FIELD_LEN: usize = 2048;
/// Most stack frames written to a `tracing` event.
const MAX_FRAMES: usize = 50;

/// The `app_name` label of a batch: its `meta.app.name` when allow-listed, else `other`.
pub(crate) fn app_label<'a>(shared: &Shared, payload: &'a Payload) -> &'a str {
    match payload
        .meta
        .app
        .as_ref()
        .and_then(|app| app.name.as_deref())
    {
        Some(name) if shared.app_names.contains(name) => name,
        _ => RUM_OTHER,
    }
}

/// Counts a batch that was already processed under the same `Idempotency-Key`.
pub(crate) fn duplicate_batch(shared: &Shared, payload: &Payload) {
    if let Some(m) = &shared.metrics {
        let items = payload.logs.len()
            + payload.exceptions.len()
            + payload.measurements.len()
            + payload.events.len();
        m.items_dropped
            .with_label_values(&["duplicate_batch"])
            .inc_by(items as u64 + payload.span_count());
    }
}

/// Records every item of a batch.
pub(crate) fn batch(shared: &Shared, payload: &Payload, app_name: &str, now: Instant) {
    let context = Context::new(shared, payload, app_name);
    let metrics = shared.metrics.as_ref();
    for measurement in &payload.measurements {
        received(metrics, "measurement");
        if measurement.kind.as_deref() == Some("web-vitals") {
            web_vital(
                shared,
                &context,
                &measurement.values,
                &measurement.context,
                now,
            );
        } else {
            let values = serde_json::to_string(&measurement.values).unwrap_or_default();
            tracing::debug!(
                target: TARGET,
                kind = "measurement",
                measurement_type = clip(measurement.kind.as_deref().unwrap_or_default()),
                values = clip(&values),
                app_name = context.app_raw,
                page_url = context.page_url,
                session_id = context.session_id,
                "browser measurement"
            );
        }
    }
    for exception in &payload.exceptions {
        received(metrics, "exception");
        self::exception(shared, &context, exception);
    }
    for log in &payload.logs {
        received(metrics, "log");
        self::log(&context, log);
    }
    for event in &payload.events {
        received(metrics, "event");
        let name = event.name.as_deref().unwrap_or_default();
        let label = if shared.event_names.contains(name) {
            name
        } else {
            RUM_OTHER
        };
        if let Some(m) = metrics {
            m.events
                .with_label_values(&[context.app_label, label])
                .inc();
        }
        let (trace_id, span_id) = ids(event.trace.as_ref());
        tracing::info!(
            target: TARGET,
            kind = "event",
            event_name = clip(name),
            event_domain = clip(event.domain.as_deref().unwrap_or("browser")),
            app_name = context.app_raw,
            page_url = context.page_url,
            session_id = context.session_id,
            browser_trace_id = trace_id,
            browser_span_id = span_id,
            "browser event {}",
            clip(name)
        );
    }
    let spans = payload.span_count();
    if spans > 0
        && let Some(traces) = &payload.traces
    {
        let reason = match &shared.forwarder {
            Some(forwarder) if forwarder.send(traces, spans) => None,
            Some(_) => Some("queue_full"),
            None => Some("traces_not_forwarded"),
        };
        if let Some(m) = metrics {
            m.items_received.with_label_values(&["span"]).inc_by(spans);
            if let Some(reason) = reason {
                m.items_dropped.with_label_values(&[reason]).inc_by(spans);
            }
        }
    }
}

/// What every item of a batch shares.
struct Context<'a> {
    app_label: &'a str,
    app_raw: &'a str,
    page_route: &'a str,
    page_url: &'a str,
    session_id: &'a str,
    browser: &'a str,
}

impl<'a> Context<'a> {
    fn new(shared: &'a Shared, payload: &'a Payload, app_label: &'a str) -> Self {
        let meta = &payload.meta;
        let page_url = meta
            .page
            .as_ref()
            .and_then(|p| p.url.as_deref())
            .unwrap_or_default();
        Context {
            app_label,
            app_raw: clip(
                meta.app
                    .as_ref()
                    .and_then(|a| a.name.as_deref())
                    .unwrap_or_default(),
            ),
            page_route: shared.page_routes.find(page_url).unwrap_or(RUM_OTHER),
            page_url: clip(page_url),
            session_id: clip(
                meta.session
                    .as_ref()
                    .and_then(|s| s.id.as_deref())
                    .unwrap_or_default(),
            ),
            browser: clip(
                meta.browser
                    .as_ref()
                    .and_then(|b| b.name.as_deref())
                    .unwrap_or_default(),
            ),
        }
    }
}

fn received(metrics: Option<&RumMetrics>, kind: &str) {
    if let Some(m) = metrics {
        m.items_received.with_label_values(&[kind]).inc();
    }
}

fn dropped(metrics: Option<&RumMetrics>, reason: &str) {
    if let Some(m) = metrics {
        m.items_dropped.with_label_values(&[reason]).inc();
    }
}

/// One web-vitals report: the metric is whichever of `lcp`, `fcp`, `inp`, `ttfb`, `cls` is in
/// `values` (in milliseconds; CLS unitless).
fn web_vital(
    shared: &Shared,
    context: &Context<'_>,
    values: &serde_json::Map<String, Value>,
    extra: &serde_json::Map<String, Value>,
    now: Instant,
) {
    let metrics = shared.metrics.as_ref();
    let Some((name, value)) = ["lcp", "fcp", "inp", "ttfb", "cls"]
        .into_iter()
        .find_map(|name| Some((name, values.get(name)?)))
    else {
        dropped(metrics, "unknown_web_vital");
        return;
    };
    let Some(value) = value.as_f64().filter(|v| v.is_finite() && *v >= 0.0) else {
        dropped(metrics, "invalid_value");
        return;
    };
    if let Some(id) = extra.get("id").and_then(Value::as_str)
        && !shared.vitals_seen.insert(&format!("{name}\u{0}{id}"), now)
    {
        dropped(metrics, "duplicate");
        return;
    }
    let rating = match extra.get("rating").and_then(Value::as_str) {
        Some(r) if WEB_VITAL_RATINGS.contains(&r) => r,
        _ => RUM_OTHER,
    };
    tracing::debug!(
        target: TARGET,
        kind = "measurement",
        web_vital = name,
        value,
        rating,
        app_name = context.app_raw,
        page_url = context.page_url,
        session_id = context.session_id,
        "browser web vital"
    );
    let Some(m) = metrics else { return };
    let (histogram, value): (&HistogramVec, f64) = match name {
        "lcp" => (&m.lcp, value / 1000.0),
        "fcp" => (&m.fcp, value / 1000.0),
        "inp" => (&m.inp, value / 1000.0),
        "ttfb" => (&m.ttfb, value / 1000.0),
        _ => (&m.cls, value),
    };
    histogram
        .with_label_values(&[context.app_label, context.page_route, rating])
        .observe(value);
}

/// `error_type`: a well-known JavaScript error name, else `other`.
pub(crate) fn error_type(name: &str) -> &str {
    if BROWSER_ERROR_TYPES.contains(&name) {
        name
    } else {
        RUM_OTHER
    }
}

fn exception(shared: &Shared, context: &Context<'_>, exception: &Exception) {
    let kind = exception.kind.as_deref().unwrap_or_default();
    if let Some(m) = &shared.metrics {
        m.exceptions
            .with_label_values(&[context.app_label, error_type(kind)])
            .inc();
    }
    let frames = exception
        .stacktrace
        .as_ref()
        .map_or(&[][..], |s| s.frames.as_slice());
    let stacktrace = render_stack(frames, &shared.source_maps);
    let (trace_id, span_id) = ids(exception.trace.as_ref());
    let message = clip(exception.value.as_deref().unwrap_or_default());
    tracing::error!(
        target: TARGET,
        kind = "exception",
        exception_type = clip(kind),
        exception_message = message,
        stacktrace = stacktrace.as_str(),
        app_name = context.app_raw,
        page_url = context.page_url,
        page_route = context.page_route,
        session_id = context.session_id,
        browser_name = context.browser,
        browser_trace_id = trace_id,
        browser_span_id = span_id,
        "browser exception {}: {}",
        clip(kind),
        message
    );
}

/// Frames as a JavaScript-style stack, one `at function (file:line:column)` per line, each
/// resolved through `maps` when a map for its script is loaded.
fn render_stack(frames: &[Frame], maps: &SourceMaps) -> String {
    let mut out = String::new();
    for frame in frames.iter().take(MAX_FRAMES) {
        let function = frame.function.as_deref().unwrap_or("?");
        let file = frame.filename.as_deref().unwrap_or("?");
        let line = frame.lineno.as_ref().and_then(Value::as_u64);
        let column = frame.colno.as_ref().and_then(Value::as_u64);
        let original = match (line, column) {
            (Some(line), Some(column)) if !maps.is_empty() => maps.resolve(file, line, column),
            _ => None,
        };
        if let Some(o) = original {
            let _ = writeln!(
                out,
                "  at {} ({}:{}:{})",
                clip(o.name.unwrap_or(function)),
                clip(o.source),
                o.line,
                o.column
            );
            continue;
        }
        let _ = write!(out, "  at {} ({}", clip(function), clip(file));
        for n in [line, column].into_iter().flatten() {
            let _ = write!(out, ":{n}");
        }
        out.push_str(")\n");
    }
    if frames.len() > MAX_FRAMES {
        let _ = writeln!(out, "  … {} more", frames.len() - MAX_FRAMES);
    }
    out
}

fn log(context: &Context<'_>, log: &Log) {
    let message = clip(log.message.as_deref().unwrap_or_default());
    let (trace_id, span_id) = ids(log.trace.as_ref());
    macro_rules! emit {
        ($level:ident) => {
            tracing::$level!(
                target: TARGET,
                kind = "log",
                app_name = context.app_raw,
                page_url = context.page_url,
                session_id = context.session_id,
                browser_trace_id = trace_id,
                browser_span_id = span_id,
                "{}",
                message
            )
        };
    }
    match log.level.as_deref().unwrap_or_default() {
        "trace" => emit!(trace),
        "debug" => emit!(debug),
        "warn" => emit!(warn),
        "error" => emit!(error),
        _ => emit!(info),
    }
}

fn ids(trace: Option<&TraceContext>) -> (&str, &str) {
    let Some(trace) = trace else { return ("", "") };
    (
        clip(trace.trace_id.as_deref().unwrap_or_default()),
        clip(trace.span_id.as_deref().unwrap_or_default()),
    )
}

/// `s` cut to at most [`MAX_FIELD_LEN`] bytes, on a character boundary.
fn clip(s: &str) -> &str {
    if s.len() <= MAX_FIELD_LEN {
        return s;
    }
    let mut end = MAX_FIELD_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_bounded() {
        assert_eq!(error_type("TypeError"), "TypeError");
        assert_eq!(error_type("MyCustomError"), "other");
        assert_eq!(error_type(""), "other");
    }

    #[test]
    fn stacks_render_as_text() {
        let frames = vec![
            Frame {
                filename: Some("https://h/app.js".into()),
                function: Some("onClick".into()),
                lineno: Some(12.into()),
                colno: Some(7.into()),
            },
            Frame::default(),
        ];
        assert_eq!(
            render_stack(&frames, &SourceMaps::default()),
            "  at onClick (https://h/app.js:12:7)\n  at ? (?)\n"
        );
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let long = "é".repeat(MAX_FIELD_LEN);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_FIELD_LEN);
        assert!(clipped.chars().all(|c| c == 'é'));
    }
}
