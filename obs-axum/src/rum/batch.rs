//! What a batch becomes: web-vital, navigation-phase and resource histograms, exception and
//! event counters, `tracing` events (one for the batch, one per item), forwarded spans.
//!
//! Every string a browser sent passes through [`Text`] before it reaches a log line or a
//! span. The batch-wide
//! fields (app, page, session, browser, user) are written in full once, on the batch's line;
//! item lines carry short copies, so a long page URL costs one line, not one per item.

use std::time::Instant;

use super::limits::{Scalar, ScalarMap, Skipped};
use super::payload::{Exception, Log, Payload, TraceContext};
use super::shared::Shared;
use super::stack;
use super::text::Text;
use obs_core::RumMetrics;
use obs_core::names::{
    BROWSER_ERROR_TYPES, InitiatorType, MAX_BROWSER_TIMING_SECONDS, MAX_BROWSER_TRANSFER_BYTES,
    NavigationPhase, RUM_OTHER, RumDropReason, RumItemKind, WEB_VITAL_RATINGS, WebVital,
};
use obs_core::prometheus::Histogram;
use obs_core::{
    BrowserEventLabels, BrowserExceptionLabels, BrowserResourceLabels, NavigationPhaseLabels,
    WebVitalLabels,
};

/// The `tracing` target of every event the receiver emits.
const TARGET: &str = "obs_axum::rum";

/// The event Faro's performance instrumentation sends once per page load.
const NAVIGATION_EVENT: &str = "faro.performance.navigation";
/// The event Faro's performance instrumentation sends per resource the page fetched.
const RESOURCE_EVENT: &str = "faro.performance.resource";

/// The `app_name` label of a batch: its `meta.app.name` when allow-listed, else `other`.
pub(crate) fn app_label<'a>(shared: &'a Shared, payload: &Payload) -> &'a str {
    match payload
        .meta
        .app
        .as_ref()
        .and_then(|app| app.name.as_deref())
        .and_then(|name| shared.app_names.get(name))
    {
        Some(name) => name.as_str(),
        None => RUM_OTHER,
    }
}

/// Counts a batch that was already processed under the same `Idempotency-Key`.
pub(crate) fn duplicate_batch(shared: &Shared, payload: &Payload) {
    if let Some(m) = &shared.metrics {
        m.items_dropped(RumDropReason::DuplicateBatch)
            .inc_by(payload.item_count());
    }
}

/// Records every item of a batch.
pub(crate) fn record(shared: &Shared, mut payload: Payload, skipped: Skipped, now: Instant) {
    let text = Text::new(shared.limits.string_bytes, &shared.redactions);
    let context = Context::new(shared, &payload, &text);
    let metrics = shared.metrics.as_ref();
    if let Some(m) = metrics
        && skipped.items > 0
    {
        m.items_dropped(RumDropReason::ItemLimit)
            .inc_by(skipped.items);
    }
    batch_line(&payload, &context, &text, skipped);
    for measurement in &payload.measurements {
        received(metrics, RumItemKind::Measurement);
        if measurement.kind.as_deref() == Some("web-vitals") {
            web_vital(
                shared,
                &context,
                &measurement.values,
                &measurement.context,
                now,
            );
        } else {
            tracing::debug!(
                target: TARGET,
                kind = "measurement",
                measurement_type = text.short(measurement.kind.as_deref().unwrap_or_default()),
                values = text.clean(&scalars_json(&measurement.values)),
                app_name = context.app_short,
                page_url = context.page_short,
                session_id = context.session_short,
                "browser measurement"
            );
        }
    }
    for exception in &payload.exceptions {
        received(metrics, RumItemKind::Exception);
        self::exception(shared, &context, &text, exception);
    }
    for log in &payload.logs {
        received(metrics, RumItemKind::Log);
        self::log(&context, &text, log);
    }
    for event in &payload.events {
        received(metrics, RumItemKind::Event);
        let name = event.name.as_deref().unwrap_or_default();
        let label = shared
            .event_names
            .get(name)
            .map_or(RUM_OTHER, String::as_str);
        if let Some(m) = metrics {
            m.events(BrowserEventLabels {
                app_name: context.app_label,
                event_name: label,
            })
            .inc();
            performance(m, &context, name, &event.attributes);
        }
        let (trace_id, span_id) = ids(event.trace.as_ref());
        let name = text.short(name);
        tracing::info!(
            target: TARGET,
            kind = "event",
            event_name = name,
            event_domain = text.short(event.domain.as_deref().unwrap_or("browser")),
            event_attributes = text.clean(&scalars_json(&event.attributes)),
            app_name = context.app_short,
            page_url = context.page_short,
            session_id = context.session_short,
            browser_trace_id = trace_id,
            browser_span_id = span_id,
            "browser event {name}"
        );
    }
    let spans = payload.span_count();
    if spans > 0
        && let Some(traces) = &mut payload.traces
    {
        let reason = match &shared.forwarder {
            Some(forwarder) => {
                traces.set_resource(context.app_label);
                traces.for_each_string(|s| {
                    let cleaned = text.clean(s);
                    if cleaned != *s {
                        *s = cleaned;
                    }
                });
                (!forwarder.send(traces, spans)).then_some(RumDropReason::QueueFull)
            }
            None => Some(RumDropReason::TracesNotForwarded),
        };
        if let Some(m) = metrics {
            m.items_received(RumItemKind::Span).inc_by(spans);
            if let Some(reason) = reason {
                m.items_dropped(reason).inc_by(spans);
            }
        }
    }
}

/// What every item of a batch shares, cleaned once.
struct Context<'a> {
    app_label: &'a str,
    page_route: &'a str,
    /// The batch's line carries these in full (up to the string limit)…
    app_raw: String,
    page_url: String,
    session_id: String,
    browser: String,
    user_id: String,
    /// …item lines carry these.
    app_short: String,
    page_short: String,
    session_short: String,
}

impl<'a> Context<'a> {
    fn new(shared: &'a Shared, payload: &Payload, text: &Text<'_>) -> Self {
        let meta = &payload.meta;
        let page_url = meta
            .page
            .as_ref()
            .and_then(|p| p.url.as_deref())
            .unwrap_or_default();
        let app = meta
            .app
            .as_ref()
            .and_then(|a| a.name.as_deref())
            .unwrap_or_default();
        let session = meta
            .session
            .as_ref()
            .and_then(|s| s.id.as_deref())
            .unwrap_or_default();
        Context {
            app_label: app_label(shared, payload),
            page_route: shared.page_routes.find(page_url).unwrap_or(RUM_OTHER),
            app_raw: text.clean(app),
            page_url: text.clean(page_url),
            session_id: text.clean(session),
            browser: text.short(
                meta.browser
                    .as_ref()
                    .and_then(|b| b.name.as_deref())
                    .unwrap_or_default(),
            ),
            user_id: text.short(
                meta.user
                    .as_ref()
                    .and_then(|u| u.id.as_deref())
                    .unwrap_or_default(),
            ),
            app_short: text.short(app),
            // Item lines keep the page without its query and fragment, where tokens live.
            page_short: text.short(page_url.split(['?', '#']).next().unwrap_or_default()),
            session_short: text.short(session),
        }
    }
}

/// The batch's own line: the batch-wide fields in full, and how many items it held.
fn batch_line(payload: &Payload, context: &Context<'_>, text: &Text<'_>, skipped: Skipped) {
    let app = payload.meta.app.as_ref();
    tracing::info!(
        target: TARGET,
        kind = "batch",
        app_name = context.app_raw,
        app_version = text.short(app.and_then(|a| a.version.as_deref()).unwrap_or_default()),
        app_environment = text.short(app.and_then(|a| a.environment.as_deref()).unwrap_or_default()),
        page_url = context.page_url,
        page_route = context.page_route,
        session_id = context.session_id,
        browser_name = context.browser,
        user_id = context.user_id,
        exceptions = payload.exceptions.len(),
        logs = payload.logs.len(),
        measurements = payload.measurements.len(),
        events = payload.events.len(),
        spans = payload.span_count(),
        items_dropped = skipped.items,
        frames_dropped = skipped.frames,
        keys_dropped = skipped.map_keys,
        "browser batch"
    );
}

fn received(metrics: Option<&RumMetrics>, kind: RumItemKind) {
    if let Some(m) = metrics {
        m.items_received(kind).inc();
    }
}

fn dropped(metrics: Option<&RumMetrics>, reason: RumDropReason) {
    if let Some(m) = metrics {
        m.items_dropped(reason).inc();
    }
}

/// A flat map as a JSON object string, for a log field.
fn scalars_json(map: &ScalarMap) -> String {
    let object: serde_json::Map<String, serde_json::Value> = map
        .0
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Null | Scalar::Nested => serde_json::Value::Null,
                Scalar::Bool(b) => (*b).into(),
                Scalar::Number(n) => n.clone().into(),
                Scalar::String(s) => s.as_str().into(),
            };
            (k.clone(), v)
        })
        .collect();
    serde_json::Value::Object(object).to_string()
}

/// One web-vitals report: the metric is whichever of `lcp`, `fcp`, `inp`, `ttfb`, `cls` is in
/// `values` (in milliseconds; CLS unitless).
fn web_vital(
    shared: &Shared,
    context: &Context<'_>,
    values: &ScalarMap,
    extra: &ScalarMap,
    now: Instant,
) {
    let metrics = shared.metrics.as_ref();
    let Some((vital, value)) = WebVital::ALL
        .iter()
        .find_map(|&vital| Some((vital, values.get(vital.as_str())?)))
    else {
        dropped(metrics, RumDropReason::UnknownWebVital);
        return;
    };
    let Some(value) = value.as_f64().filter(|v| v.is_finite() && *v >= 0.0) else {
        dropped(metrics, RumDropReason::InvalidValue);
        return;
    };
    if let Some(id) = extra.get("id").and_then(Scalar::as_str)
        && !shared
            .vitals_seen
            .insert(&format!("{}\u{0}{id}", vital.as_str()), now)
    {
        dropped(metrics, RumDropReason::Duplicate);
        return;
    }
    let rating = match extra.get("rating").and_then(Scalar::as_str) {
        Some(r) if WEB_VITAL_RATINGS.contains(&r) => r,
        _ => RUM_OTHER,
    };
    tracing::debug!(
        target: TARGET,
        kind = "measurement",
        web_vital = vital.as_str(),
        value,
        rating,
        app_name = context.app_short,
        page_url = context.page_short,
        session_id = context.session_short,
        "browser web vital"
    );
    let Some(m) = metrics else { return };
    // Faro reports the timings in milliseconds.
    let value = match vital {
        WebVital::Cls => value,
        _ => value / 1000.0,
    };
    m.web_vital(
        vital,
        WebVitalLabels {
            app_name: context.app_label,
            page_route: context.page_route,
            rating,
        },
    )
    .observe(value);
}

/// A Faro performance event's timings, into the navigation-phase or resource histograms; any
/// other event records nothing here. Each value that is missing, not a number, negative or
/// beyond its bound is skipped and counted as an `invalid_value` drop.
fn performance(metrics: &RumMetrics, context: &Context<'_>, name: &str, attributes: &ScalarMap) {
    // The series is made only for a value it records: a dropped value leaves no empty series.
    let observe = |histogram: &dyn Fn() -> Histogram, value: Option<f64>| match value {
        Some(value) => histogram().observe(value),
        None => metrics.items_dropped(RumDropReason::InvalidValue).inc(),
    };
    match name {
        NAVIGATION_EVENT => {
            let tcp = attributes.get(NavigationPhase::Connect.faro_attribute());
            for &phase in NavigationPhase::ALL {
                let value = attributes.get(phase.faro_attribute());
                // Faro's TLS time is `connectEnd - secureConnectionStart`, and a page without
                // TLS has `secureConnectionStart` 0: the "TLS time" is then `connectEnd`, more
                // than the whole connect phase TLS is part of. That is no TLS, not bad data.
                if phase == NavigationPhase::Tls
                    && let (Some(tls), Some(tcp)) = (number(value), number(tcp))
                    && tls > tcp
                {
                    continue;
                }
                let labels = NavigationPhaseLabels {
                    app_name: context.app_label,
                    page_route: context.page_route,
                    phase,
                };
                observe(&|| metrics.navigation_phase(labels), seconds(value));
            }
        }
        RESOURCE_EVENT => {
            let initiator = attributes.get("initiatorType").and_then(Scalar::as_str);
            let labels = BrowserResourceLabels {
                app_name: context.app_label,
                initiator_type: InitiatorType::from_browser(initiator.unwrap_or_default()),
            };
            observe(
                &|| metrics.resource_duration(labels),
                seconds(attributes.get("duration")),
            );
            let bytes =
                number(attributes.get("transferSize")).filter(|b| *b <= MAX_BROWSER_TRANSFER_BYTES);
            observe(&|| metrics.resource_transfer_size(labels), bytes);
        }
        _ => {}
    }
}

/// A performance attribute as a finite, non-negative number: Faro sends decimal strings
/// (`"unknown"` when the browser had no value).
fn number(value: Option<&Scalar>) -> Option<f64> {
    let value = match value? {
        Scalar::String(s) => s.trim().parse::<f64>().ok()?,
        other => other.as_f64()?,
    };
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// A performance timing in milliseconds, in seconds, when within [`MAX_BROWSER_TIMING_SECONDS`].
fn seconds(value: Option<&Scalar>) -> Option<f64> {
    number(value)
        .map(|ms| ms / 1000.0)
        .filter(|s| *s <= MAX_BROWSER_TIMING_SECONDS)
}

/// `error_type`: a well-known JavaScript error name, else `other`.
pub(crate) fn error_type(name: &str) -> &str {
    if BROWSER_ERROR_TYPES.contains(&name) {
        name
    } else {
        RUM_OTHER
    }
}

fn exception(shared: &Shared, context: &Context<'_>, text: &Text<'_>, exception: &Exception) {
    let kind = exception.kind.as_deref().unwrap_or_default();
    if let Some(m) = &shared.metrics {
        m.exceptions(BrowserExceptionLabels {
            app_name: context.app_label,
            error_type: error_type(kind),
        })
        .inc();
    }
    let frames = exception
        .stacktrace
        .as_ref()
        .map_or(&[][..], |s| s.frames.as_slice());
    let stacktrace = stack::render(frames, &shared.source_maps, text);
    let (trace_id, span_id) = ids(exception.trace.as_ref());
    let kind = text.short(kind);
    tracing::error!(
        target: TARGET,
        kind = "exception",
        exception_type = kind,
        exception_message = text.clean(exception.value.as_deref().unwrap_or_default()),
        stacktrace = stacktrace,
        app_name = context.app_short,
        page_url = context.page_short,
        page_route = context.page_route,
        session_id = context.session_short,
        browser_name = context.browser,
        browser_trace_id = trace_id,
        browser_span_id = span_id,
        "browser exception {kind}"
    );
}

fn log(context: &Context<'_>, text: &Text<'_>, log: &Log) {
    let message = text.clean(log.message.as_deref().unwrap_or_default());
    let (trace_id, span_id) = ids(log.trace.as_ref());
    macro_rules! emit {
        ($level:ident) => {
            tracing::$level!(
                target: TARGET,
                kind = "log",
                app_name = context.app_short,
                page_url = context.page_short,
                session_id = context.session_short,
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

/// An item's trace and span id, when they are W3C-shaped hex; anything else is dropped.
fn ids(trace: Option<&TraceContext>) -> (&str, &str) {
    fn hex(s: Option<&str>, len: usize) -> &str {
        match s {
            Some(s) if s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) => s,
            _ => "",
        }
    }
    let Some(trace) = trace else { return ("", "") };
    (
        hex(trace.trace_id.as_deref(), 32),
        hex(trace.span_id.as_deref(), 16),
    )
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
    fn ids_must_be_hex_of_the_right_length() {
        let good = TraceContext {
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
        };
        assert_eq!(
            ids(Some(&good)),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        );
        let bad = TraceContext {
            trace_id: Some("x".repeat(5000)),
            span_id: Some("zz".into()),
        };
        assert_eq!(ids(Some(&bad)), ("", ""));
    }
}
