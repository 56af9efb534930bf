//! The JSON log line: one object per event, carrying the OpenTelemetry trace and span ids of the
//! current span so a log line in Loki links to its trace.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::head_sampling::LogSpan;

/// Who is logging, written into every line, and the dispatch to look trace ids up in.
#[derive(Clone, Debug)]
pub(crate) struct LogIdentity {
    pub(crate) service: String,
    pub(crate) instance: String,
    /// Set once the dispatch holding the layers exists. `tracing::dispatcher::get_default`
    /// cannot be used instead: while an event is dispatched it yields the no-op dispatch.
    pub(crate) dispatch: Arc<OnceLock<WeakDispatch>>,
}

/// A [`FormatEvent`] writing [`render_line`] output, one line per event.
#[derive(Clone, Debug)]
pub(crate) struct JsonFormat {
    pub(crate) identity: LogIdentity,
}

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let span = ctx.parent_span();
        writeln!(writer, "{}", render_line(event, span, &self.identity))
    }
}

/// Renders `event`, inside `span`, as a JSON object:
/// `timestamp`, `level`, `target`, `message`, `fields`, `span`, `service`, `instance`,
/// `trace_id` and `span_id` (the last two when the span has an OpenTelemetry context).
pub(crate) fn render_line<'a, S>(
    event: &Event<'_>,
    span: Option<SpanRef<'a, S>>,
    identity: &LogIdentity,
) -> String
where
    S: Subscriber + LookupSpan<'a>,
{
    let meta = event.metadata();
    let mut line = Map::with_capacity(10);
    line.insert("timestamp".into(), Value::String(timestamp()));
    line.insert("level".into(), Value::String(meta.level().as_str().into()));
    line.insert("target".into(), Value::String(meta.target().into()));

    let mut visitor = FieldVisitor::default();
    event.record(&mut visitor);
    line.insert(
        "message".into(),
        Value::String(visitor.message.unwrap_or_default()),
    );
    if !visitor.fields.is_empty() {
        line.insert("fields".into(), Value::Object(visitor.fields));
    }

    if let Some(span) = span {
        // Read the ids before touching the span's extensions: looking up the OpenTelemetry
        // context takes the extensions lock itself.
        if let Some((trace_id, span_id)) = otel_ids(&identity.dispatch, &span.id()) {
            line.insert("trace_id".into(), Value::String(trace_id));
            line.insert("span_id".into(), Value::String(span_id));
        }
        let mut span_obj = Map::new();
        span_obj.insert("name".into(), Value::String(span.name().into()));
        if let Some(fields) = span.extensions().get::<FormattedFields<JsonFieldList>>() {
            extend_with_fields(&mut span_obj, fields);
        }
        line.insert("span".into(), Value::Object(span_obj));
    } else if let Some((trace_id, span_id)) = current_otel_ids(&identity.dispatch) {
        // The log filter hid the span (`RUST_LOG=warn` and an `INFO` server span) but the trace
        // filter kept it: the line still carries the ids that lead to its trace.
        line.insert("trace_id".into(), Value::String(trace_id));
        line.insert("span_id".into(), Value::String(span_id));
    } else {
        // No span at all: a request the head sampler dropped runs in an OpenTelemetry context
        // of its own instead (`head_sampling`), with the fields its span would have had.
        Context::map_current(|cx| {
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                line.insert("trace_id".into(), Value::String(sc.trace_id().to_string()));
                line.insert("span_id".into(), Value::String(sc.span_id().to_string()));
            }
            if let Some(log_span) = cx.get::<LogSpan>() {
                let mut span_obj = Map::new();
                span_obj.insert("name".into(), Value::String(log_span.name().into()));
                extend_with_fields(&mut span_obj, &log_span.fields());
                line.insert("span".into(), Value::Object(span_obj));
            }
        });
    }

    line.insert("service".into(), Value::String(identity.service.clone()));
    line.insert("instance".into(), Value::String(identity.instance.clone()));
    Value::Object(line).to_string()
}

/// Adds span fields kept as the inside of a JSON object (`"k":v,"k2":v2`) to `span_obj`.
fn extend_with_fields(span_obj: &mut Map<String, Value>, fields: &str) {
    if !fields.is_empty()
        && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&format!("{{{fields}}}"))
    {
        span_obj.extend(fields);
    }
}

/// The hex trace and span ids of the OpenTelemetry span behind a `tracing` span.
fn otel_ids(dispatch: &OnceLock<WeakDispatch>, id: &tracing::span::Id) -> Option<(String, String)> {
    let dispatch = dispatch.get()?.upgrade()?;
    let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

/// [`otel_ids`] of the dispatcher's current span, whatever the log filter lets this layer see.
fn current_otel_ids(dispatch: &OnceLock<WeakDispatch>) -> Option<(String, String)> {
    let strong = dispatch.get()?.upgrade()?;
    let current = strong.current_span();
    otel_ids(dispatch, current.id()?)
}

fn timestamp() -> String {
    let mut out = String::with_capacity(32);
    // Writing into a String cannot fail.
    let _ = tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut out));
    out
}

#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.insert(field.name().into(), value);
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}

/// Formats span fields as the inside of a JSON object (`"k":v,"k2":v2`), so fields recorded
/// later are appended with a comma instead of re-parsing and re-serialising the whole object on
/// every `Span::record` (which is what `tracing-subscriber`'s `JsonFields` does, and what made
/// recording a status code on a request span cost microseconds).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonFieldList;

impl<'writer> tracing_subscriber::fmt::FormatFields<'writer> for JsonFieldList {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // The span's string starts empty and would grow through every power of two up to its
        // size; formatted into a reused buffer and written whole, it is allocated once.
        FIELDS_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                let result = write_list(&mut Writer::new(&mut *buffer), fields)
                    .and_then(|()| writer.write_str(&buffer));
                if buffer.capacity() > MAX_KEPT_BUFFER {
                    *buffer = String::new();
                }
                result
            }
            // A field's `Debug` opened a span of its own while being formatted.
            Err(_) => write_list(&mut writer, fields),
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut visitor = ListVisitor {
            first: current.is_empty(),
            writer: &mut current.as_writer(),
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

thread_local! {
    /// Where [`JsonFieldList`] formats a new span's fields before writing them in one piece.
    static FIELDS_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The largest [`FIELDS_BUFFER`] kept between spans; a larger one (a span with huge fields)
/// is freed after use.
const MAX_KEPT_BUFFER: usize = 16 * 1024;

/// Writes `fields` as `"k":v,"k2":v2`.
fn write_list<R: RecordFields>(writer: &mut Writer<'_>, fields: R) -> fmt::Result {
    let mut visitor = ListVisitor {
        writer,
        first: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct ListVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl ListVisitor<'_, '_> {
    /// Writes `"name":` and then the value with `value`, which writes JSON.
    fn put(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let sep = if self.first { "\"" } else { ",\"" };
        self.first = false;
        self.result = self
            .writer
            .write_str(sep)
            .and_then(|()| write_key(self.writer, field.name()))
            .and_then(|()| value(self.writer));
    }
}

/// Writes a field name, escaped, and the `":` after it. Field names are identifiers nearly
/// always: then that is one write.
fn write_key(w: &mut Writer<'_>, name: &str) -> fmt::Result {
    if needs_escape(name).is_none() {
        w.write_str(name)?;
    } else {
        JsonEscaped(&mut *w).write_str(name)?;
    }
    w.write_str("\":")
}

impl Visit for ListVisitor<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, |w| write!(w, "{}", serde_json::json!(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, |w| write!(w, "{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, |w| write!(w, "{value}"));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, |w| w.write_str(if value { "true" } else { "false" }));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, |w| write_json_str(w, value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, |w| {
            w.write_char('"')?;
            write!(JsonEscaped(w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

/// Writes `s` as a JSON string, quotes included, without allocating.
pub(crate) fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    JsonEscaped(&mut *w).write_str(s)?;
    w.write_char('"')
}

/// A writer that escapes what passes through it for the inside of a JSON string.
pub(crate) struct JsonEscaped<'a, W: fmt::Write + ?Sized>(pub(crate) &'a mut W);

/// The index of the first byte of `s` that JSON escapes: a quote, a backslash or a control
/// character.
fn needs_escape(s: &str) -> Option<usize> {
    s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\')
}

impl<W: fmt::Write + ?Sized> fmt::Write for JsonEscaped<'_, W> {
    fn write_str(&mut self, mut s: &str) -> fmt::Result {
        // Clean runs are written whole: most values have nothing to escape.
        while let Some(i) = needs_escape(s) {
            self.0.write_str(&s[..i])?;
            let byte = s.as_bytes()[i];
            match byte {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                _ => write!(self.0, "\\u{byte:04x}")?,
            }
            // The byte is ASCII, so the next one starts a character.
            s = &s[i + 1..];
        }
        self.0.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_strings_round_trip_through_a_json_parser() {
        for text in [
            "",
            "plain",
            "quote \" and backslash \\ and slash /",
            "line\nbreak\r\ttab",
            "\u{0}\u{1}\u{1f} controls",
            "ünïcødé ✓ and \u{2028} separators",
            "\\\"\\\"",
        ] {
            let mut out = String::new();
            write_json_str(&mut out, text).unwrap();
            let parsed: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(parsed, Value::String(text.to_owned()), "{out}");
        }
    }

    #[test]
    fn debug_values_are_escaped_as_they_are_written() {
        let mut out = String::new();
        out.push('"');
        write!(JsonEscaped(&mut out), "{:?}", Some("a\"b\n")).unwrap();
        out.push('"');
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, Value::String(format!("{:?}", Some("a\"b\n"))));
    }
}
