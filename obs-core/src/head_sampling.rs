//! Head sampling: the sampler's decision taken before a request's span exists, so that a request
//! the sampler drops is served without a `tracing` span at all.
//!
//! An unsampled span is never exported, but as a `tracing` span it still costs every layer of
//! the subscriber its work (the registry slot, the log layer's field formatting, the
//! OpenTelemetry layer's span builder and attributes): nearly what a sampled one costs. With
//! [`HeadSampler`] an instrumentation asks first. On [`HeadDecision::Drop`] it runs the request
//! inside the returned OpenTelemetry context instead: the parent's context plus a
//! non-recording span with a trace id, a fresh span id and the sampled flag off, which is
//! exactly what the dropped span would have carried. Child spans (database clients, outgoing
//! HTTP) take it as their parent through `tracing-opentelemetry`'s context activation, so they
//! are dropped too and propagate `sampled=0`; log lines written inside carry its ids and the
//! [`LogSpan`] attached to it.
//!
//! On [`HeadDecision::Sample`] the span is opened as usual, and [`start_sampled`] starts its
//! OpenTelemetry span on the trace id the decision was made on: the tracer provider obs builds
//! takes new trace ids from a generator that hands out that id once.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::TraceSampler;

thread_local! {
    /// The trace id the next root span started on this thread takes; set only for the
    /// duration of [`start_sampled`].
    static PRESET_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The id generator of the tracer provider obs builds: random ids, but a root span started
/// inside [`start_sampled`] takes the trace id its head decision was made on.
#[derive(Debug, Default)]
pub(crate) struct PresetIds(RandomIdGenerator);

impl IdGenerator for PresetIds {
    fn new_trace_id(&self) -> TraceId {
        PRESET_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// The configured sampler, asked before a span is opened; see the [module](self) docs.
///
/// [`Telemetry::head_sampler`](crate::Telemetry::head_sampler) hands one out when skipping the
/// span of an unsampled request changes nothing but the cost.
#[derive(Clone, Debug)]
pub struct HeadSampler {
    sampler: Arc<Sampler>,
    ids: Arc<RandomIdGenerator>,
    /// Which spans the sampler records whatever their trace id: for those there is nothing
    /// to decide ahead, and the tracer picks the id when the span starts.
    sure: Sure,
}

/// The spans a sampler records without looking at their trace id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sure {
    /// Every span: `always_on`, `traceidratio` at 1.
    Every,
    /// Every span without a parent: `parentbased_always_on` (the default),
    /// `parentbased_traceidratio` at 1.
    Roots,
    /// None for sure.
    Neither,
}

impl Sure {
    fn of(sampler: TraceSampler) -> Self {
        match sampler {
            TraceSampler::AlwaysOn => Sure::Every,
            TraceSampler::TraceIdRatio(ratio) if ratio >= 1.0 => Sure::Every,
            TraceSampler::ParentBasedAlwaysOn => Sure::Roots,
            TraceSampler::ParentBasedTraceIdRatio(ratio) if ratio >= 1.0 => Sure::Roots,
            _ => Sure::Neither,
        }
    }
}

/// What [`HeadSampler::decide`] answered.
#[derive(Debug)]
#[must_use]
pub enum HeadDecision {
    /// Recorded: open the span, then call [`start_sampled`] with this trace id (`None` when
    /// the span continues its parent's trace, or when the sampler records it whatever its
    /// trace id: the tracer picks one as the span starts).
    Sample(Option<TraceId>),
    /// Not recorded: run the request in this context instead of a span.
    Drop(Context),
}

impl HeadSampler {
    pub(crate) fn new(sampler: TraceSampler) -> Self {
        HeadSampler {
            sampler: Arc::new(sampler.to_sdk()),
            ids: Arc::new(RandomIdGenerator::default()),
            sure: Sure::of(sampler),
        }
    }

    /// Decides for a span named `name` of `kind` whose OpenTelemetry parent will be `parent`
    /// (the extracted remote context, or the current context for a span that has none), as
    /// the tracer would when starting it: the parent's trace id when it is valid, else a new
    /// one.
    pub fn decide(&self, parent: &Context, name: &str, kind: SpanKind) -> HeadDecision {
        // A span the sampler records whatever its id (a root under the default sampler) needs
        // no id chosen ahead: the sampler's answer, without asking it.
        match self.sure {
            Sure::Every => return HeadDecision::Sample(None),
            // As the parent-based sampler tells a root: no active span in the parent context.
            Sure::Roots if !parent.has_active_span() => return HeadDecision::Sample(None),
            _ => {}
        }
        let parent_span = parent.span();
        let parent_sc = parent_span.span_context();
        let inherited = parent_sc.is_valid().then(|| parent_sc.trace_id());
        let trace_id = inherited.unwrap_or_else(|| self.ids.new_trace_id());
        let result = self
            .sampler
            .should_sample(Some(parent), trace_id, name, &kind, &[], &[]);
        match result.decision {
            SamplingDecision::RecordAndSample | SamplingDecision::RecordOnly => {
                HeadDecision::Sample(inherited.is_none().then_some(trace_id))
            }
            SamplingDecision::Drop => {
                // What the SDK gives a dropped span: the flags cleared, the sampler's state.
                let sc = SpanContext::new(
                    trace_id,
                    self.ids.new_span_id(),
                    TraceFlags::default(),
                    false,
                    result.trace_state,
                );
                HeadDecision::Drop(parent.with_remote_span_context(sc))
            }
        }
    }
}

/// Starts the OpenTelemetry span behind `span` now, on `trace_id` when it is a new root (see
/// [`HeadDecision::Sample`]), so the span gets the trace id its decision was made on.
pub fn start_sampled(span: &tracing::Span, trace_id: Option<TraceId>) {
    drop(start_sampled_context(span, trace_id));
}

/// [`start_sampled`], returning the started span's OpenTelemetry context when it started it
/// (a new root): the instrumentation can keep it for the span's ids and attributes later
/// instead of looking it up again through the subscriber.
pub fn start_sampled_context(span: &tracing::Span, trace_id: Option<TraceId>) -> Option<Context> {
    let trace_id = trace_id?;
    if span.is_disabled() {
        return None;
    }
    PRESET_TRACE_ID.with(|preset| preset.set(Some(trace_id)));
    // Starting the span is what asks the id generator; a span the OpenTelemetry layer does not
    // see asks nothing, so the preset is cleared either way.
    let cx = span.context();
    PRESET_TRACE_ID.with(Cell::take);
    Some(cx)
}

/// The fields of a span that was never opened, written into the `span` object of the log lines
/// of events that happen inside its [`HeadDecision::Drop`] context. Formatted only when such a
/// line is written.
pub trait LogSpanFields: Send + Sync + 'static {
    /// The span's name.
    fn name(&self) -> &'static str;
    /// Writes the span's fields, in the order the span declares them.
    fn write(&self, out: &mut LogFieldWriter<'_>);
}

/// Opens a span (`open` creates it) whose fields the JSON log layer does not format when the
/// span opens: the lines written inside it take them from `fields`, written only then.
/// Formatting a span's fields costs that span's creation whether or not a line is ever written
/// in it, which for a request span is most of the time.
///
/// `fields` must write exactly what the span's own fields would (the ones it opens with, in
/// their order, empty ones left out): the log layer writes them in their place. Fields recorded
/// on the span later are formatted as usual and follow them. The OpenTelemetry layer and any
/// other layer see the span's fields as always. Under the subscriber obs builds with JSON log
/// lines (where [`Telemetry::head_sampler`](crate::Telemetry::head_sampler) is `Some`) the log
/// layer takes `fields`; under any other subscriber the span is simply opened, its fields
/// formatted by whatever formats them.
///
/// ```
/// use obs_core::LogSpan;
/// use obs_core::head_sampling::{LogFieldWriter, LogSpanFields, open_with_log_fields};
///
/// struct Job { id: String }
///
/// impl LogSpanFields for Job {
///     fn name(&self) -> &'static str { "job" }
///     fn write(&self, out: &mut LogFieldWriter<'_>) { out.str("job.id", &self.id); }
/// }
///
/// let id = "j-42".to_owned();
/// let span = open_with_log_fields(LogSpan::new(Job { id: id.clone() }), || {
///     tracing::info_span!("job", job.id = %id)
/// });
/// span.in_scope(|| tracing::info!("started"));
/// ```
pub fn open_with_log_fields(
    fields: LogSpan,
    open: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    crate::log_format::open_with_log_fields(fields, open)
}

/// A [`LogSpanFields`] as an OpenTelemetry context value:
/// `cx.with_value(LogSpan::new(fields))`.
#[derive(Clone)]
pub struct LogSpan(Arc<dyn LogSpanFields>);

impl LogSpan {
    /// Wraps `fields`.
    pub fn new(fields: impl LogSpanFields) -> Self {
        LogSpan(Arc::new(fields))
    }

    pub(crate) fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The fields as the inside of a JSON object, as span fields are kept for log lines.
    pub(crate) fn fields(&self) -> String {
        let mut out = String::new();
        self.0.write(&mut LogFieldWriter {
            out: &mut out,
            first: true,
        });
        out
    }
}

impl fmt::Debug for LogSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogSpan").field(&self.0.name()).finish()
    }
}

/// Writes the fields of a [`LogSpanFields`], formatted as the log layer formats the fields of a
/// `tracing` span.
#[derive(Debug)]
pub struct LogFieldWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl LogFieldWriter<'_> {
    /// A string field, as `tracing` records a `&str`.
    pub fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        // Writing into a `String` cannot fail.
        let _ = crate::log_format::write_json_str(self.out, value);
    }

    /// A field recorded with [`tracing::field::display`].
    pub fn display(&mut self, name: &str, value: &dyn fmt::Display) {
        self.key(name);
        let _ = self.out.write_char('"');
        let _ = write!(crate::log_format::JsonEscaped(&mut *self.out), "{value}");
        let _ = self.out.write_char('"');
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let _ = crate::log_format::write_json_str(self.out, name);
        self.out.push(':');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceState;

    fn remote(sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            flags,
            true,
            TraceState::default(),
        ))
    }

    fn parent_based(ratio: f64) -> HeadSampler {
        HeadSampler::new(TraceSampler::ParentBasedTraceIdRatio(ratio))
    }

    #[test]
    fn a_remote_parent_decides_and_keeps_its_trace() {
        let sampler = parent_based(0.0);
        assert!(matches!(
            sampler.decide(&remote(true), "GET /", SpanKind::Server),
            HeadDecision::Sample(None)
        ));
        let HeadDecision::Drop(cx) = sampler.decide(&remote(false), "GET /", SpanKind::Server)
        else {
            panic!("an unsampled parent is followed");
        };
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id(),
            remote(false).span().span_context().trace_id()
        );
        assert_ne!(sc.span_id(), remote(false).span().span_context().span_id());
        assert!(sc.is_valid() && !sc.is_sampled() && !sc.is_remote());
    }

    #[test]
    fn roots_follow_the_ratio_with_a_trace_of_their_own() {
        // Each sampled root gets a trace id of its own, the one it was decided on.
        let half = parent_based(0.5);
        let ids: Vec<TraceId> = (0..200)
            .filter_map(
                |_| match half.decide(&Context::new(), "x", SpanKind::Server) {
                    HeadDecision::Sample(id) => Some(id.expect("a root is decided on its id")),
                    HeadDecision::Drop(_) => None,
                },
            )
            .collect();
        assert!(ids.len() >= 2, "{}", ids.len());
        assert_ne!(ids[0], ids[1]);
        let HeadDecision::Drop(cx) =
            parent_based(0.0).decide(&Context::new(), "x", SpanKind::Server)
        else {
            panic!("ratio 0 samples no root");
        };
        assert!(cx.span().span_context().is_valid());
        // A tenth, give or take: the decision is the SDK's ratio on a random trace id.
        let tenth = parent_based(0.1);
        let sampled = (0..10_000)
            .filter(|_| {
                matches!(
                    tenth.decide(&Context::new(), "x", SpanKind::Server),
                    HeadDecision::Sample(_)
                )
            })
            .count();
        assert!((800..1200).contains(&sampled), "{sampled}");
    }

    /// Where the sampler records a span whatever its trace id, the decision is taken without
    /// choosing one; the SDK's sampler agrees for any id. A parent's decision is still asked.
    #[test]
    fn spans_recorded_whatever_their_id_are_sampled_without_an_id() {
        let cases = [
            (TraceSampler::AlwaysOn, true, true),
            (TraceSampler::TraceIdRatio(1.0), true, true),
            (TraceSampler::ParentBasedAlwaysOn, true, false),
            (TraceSampler::ParentBasedTraceIdRatio(1.0), true, false),
            (TraceSampler::TraceIdRatio(0.999), false, false),
            (TraceSampler::ParentBasedTraceIdRatio(0.5), false, false),
            (TraceSampler::ParentBasedAlwaysOff, false, false),
            (TraceSampler::AlwaysOff, false, false),
        ];
        let ids = RandomIdGenerator::default();
        for (config, roots_sure, children_sure) in cases {
            let case = format!("{config:?}");
            let head = HeadSampler::new(config);
            let sampler = config.to_sdk();
            for (parent, sure) in [(Context::new(), roots_sure), (remote(false), children_sure)] {
                let decision = head.decide(&parent, "GET /", SpanKind::Server);
                if sure {
                    assert!(matches!(decision, HeadDecision::Sample(None)), "{case}");
                    for _ in 0..100 {
                        let sdk = sampler.should_sample(
                            Some(&parent),
                            ids.new_trace_id(),
                            "GET /",
                            &SpanKind::Server,
                            &[],
                            &[],
                        );
                        assert_eq!(sdk.decision, SamplingDecision::RecordAndSample, "{case}");
                    }
                } else if let HeadDecision::Sample(id) = decision {
                    // Asked: a root gets the id it was decided on.
                    assert_eq!(id.is_some(), !parent.has_active_span(), "{case}");
                }
            }
        }
        // The parent's unsampled decision is followed, not skipped.
        let default = HeadSampler::new(TraceSampler::ParentBasedAlwaysOn);
        assert!(matches!(
            default.decide(&remote(false), "GET /", SpanKind::Server),
            HeadDecision::Drop(_)
        ));
    }

    #[test]
    fn the_preset_trace_id_is_taken_once() {
        let ids = PresetIds::default();
        let preset = TraceId::from(42_u128);
        PRESET_TRACE_ID.with(|p| p.set(Some(preset)));
        assert_eq!(ids.new_trace_id(), preset);
        assert_ne!(ids.new_trace_id(), preset);
    }

    struct Fields;
    impl LogSpanFields for Fields {
        fn name(&self) -> &'static str {
            "HTTP request"
        }
        fn write(&self, out: &mut LogFieldWriter<'_>) {
            out.str("http.route", "/a\"b");
            out.display("client.address", &std::net::Ipv4Addr::LOCALHOST);
        }
    }

    #[test]
    fn log_span_fields_are_a_json_object_inside() {
        let span = LogSpan::new(Fields);
        let fields: serde_json::Value =
            serde_json::from_str(&format!("{{{}}}", span.fields())).unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"http.route": "/a\"b", "client.address": "127.0.0.1"})
        );
        assert_eq!(span.name(), "HTTP request");
    }
}
