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
        {
            let extensions = span.extensions();
            // Fields kept as values come first, as they were the span's when it opened; what
            // was recorded since follows.
            if let Some(LazySpanFields(fields)) = extensions.get::<LazySpanFields>() {
                extend_with_fields(&mut span_obj, &fields.fields());
            }
            if let Some(fields) = extensions.get::<FormattedFields<JsonFieldList>>() {
                extend_with_fields(&mut span_obj, fields);
            }
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
        // A span opened by `open_with_log_fields`: its fields are written from the values it
        // was given, when a line is written inside it. `LazyFieldsLayer`, after this layer,
        // takes them.
        if LAZY_FIELDS.with(|pending| pending.try_borrow().is_ok_and(|p| p.is_some())) {
            return Ok(());
        }
        // The span's string starts empty and would grow through every power of two up to its
        // size; formatted into a reused buffer and written whole, it is allocated once.
        FIELDS_BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                let result =
                    write_list(&mut buffer, true, fields).and_then(|()| writer.write_str(&buffer));
                if buffer.capacity() > MAX_KEPT_BUFFER {
                    *buffer = String::new();
                }
                result
            }
            // A field's `Debug` opened a span of its own while being formatted.
            Err(_) => {
                let mut own = String::new();
                write_list(&mut own, true, fields).and_then(|()| writer.write_str(&own))
            }
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let first = current.fields.is_empty();
        write_list(&mut current.fields, first, fields)
    }
}

thread_local! {
    /// Where [`JsonFieldList`] formats a new span's fields before writing them in one piece.
    static FIELDS_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    /// The fields of the span being opened by [`open_with_log_fields`] on this thread:
    /// [`JsonFieldList`] writes nothing for it and [`LazyFieldsLayer`] keeps them with it.
    static LAZY_FIELDS: RefCell<Option<LogSpan>> = const { RefCell::new(None) };
}

/// See [`crate::head_sampling::open_with_log_fields`].
pub(crate) fn open_with_log_fields(
    fields: LogSpan,
    open: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    /// Clears what the span did not take (a span the log layer's filter hid), even on a panic.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            LAZY_FIELDS.with(|pending| pending.borrow_mut().take());
        }
    }
    LAZY_FIELDS.with(|pending| *pending.borrow_mut() = Some(fields));
    let _reset = Reset;
    open()
}

/// Keeps the [`LogSpan`] given to [`open_with_log_fields`] with the span it opened, for
/// [`render_line`]. Runs after the JSON log layer (which must see the pending fields to skip
/// formatting the span's own), under the same filter.
pub(crate) struct LazyFieldsLayer;

impl<S> tracing_subscriber::Layer<S> for LazyFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let Some(fields) = LAZY_FIELDS.with(|pending| pending.borrow_mut().take()) else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(LazySpanFields(fields));
        }
    }
}

/// The [`LogSpan`] a span's fields are written from (see [`open_with_log_fields`]).
struct LazySpanFields(LogSpan);

/// The largest [`FIELDS_BUFFER`] kept between spans; a larger one (a span with huge fields)
/// is freed after use.
const MAX_KEPT_BUFFER: usize = 16 * 1024;

/// Appends `fields` to `out` as `"k":v,"k2":v2`, starting with a comma unless `first`.
fn write_list<R: RecordFields>(out: &mut String, first: bool, fields: R) -> fmt::Result {
    let mut visitor = ListVisitor {
        out,
        first,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

/// Writes straight into the span's `String`: no formatter, no dynamic dispatch per piece.
struct ListVisitor<'a> {
    out: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl ListVisitor<'_> {
    /// Writes `"name":`, escaped (field names are identifiers nearly always: one piece).
    fn key(&mut self, field: &Field) {
        self.out.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        let name = field.name();
        if needs_escape(name).is_none() {
            self.out.push_str(name);
        } else {
            push_escaped(self.out, name);
        }
        self.out.push_str("\":");
    }
}

impl Visit for ListVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        let _ = write!(self.out, "{}", serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.out.push('-');
        }
        push_decimal(self.out, value.unsigned_abs());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_decimal(self.out, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        self.out.push('"');
        push_escaped(self.out, value);
        self.out.push('"');
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.out.push('"');
        if let Err(e) = write!(JsonEscaped(&mut *self.out), "{value:?}") {
            self.result = Err(e);
        }
        self.out.push('"');
    }
}

/// Appends `n` in decimal, without the formatter.
fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Appends `s` escaped for the inside of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    // Writing into a `String` cannot fail.
    let _ = JsonEscaped(out).write_str(s);
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
    let bytes = s.as_bytes();
    // Eight bytes at a time: most values have nothing to escape, and a word without such a
    // byte is passed over in a few instructions.
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if word_needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .map(|i| at + i)
}

/// Whether one of the eight bytes of `word` is below 0x20, a quote or a backslash (the
/// classic "has a zero byte" and "has a byte less than" tests: no false negatives; a false
/// positive only sends the word to the byte-by-byte scan).
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
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
    fn the_word_scan_finds_what_the_byte_scan_finds() {
        let naive = |s: &str| s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\');
        let base = "abcdefghijklmnopqrstuvwxyz0123456789-ü✓/{}";
        for len in 0..base.len() {
            let Some(prefix) = base.get(..len) else {
                continue;
            };
            assert_eq!(needs_escape(prefix), None, "{prefix:?}");
            for bad in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
                for at in 0..=len {
                    let Some((a, b)) = prefix.get(..at).zip(prefix.get(at..)) else {
                        continue;
                    };
                    let s = format!("{a}{bad}{b}");
                    assert_eq!(needs_escape(&s), naive(&s), "{s:?}");
                }
            }
        }
        // Bytes just around the ones looked for, and high bytes, are not flagged.
        assert_eq!(needs_escape(" !#$[]^`~\u{7f}\u{80}ÿ€"), None);
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for n in [0, 7, 10, 200, 65_535, u64::MAX] {
            let mut out = String::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string());
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
