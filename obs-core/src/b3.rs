//! [`B3Propagator`]: Zipkin's B3 headers, single (`b3`) and multiple (`X-B3-*`).

use std::sync::LazyLock;

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

/// The single header.
const B3: &str = "b3";
/// The multiple headers, lowercase as HTTP/2 sends them (lookups ignore case).
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";

/// The longest valid `b3` value: a 128-bit trace id, a span id, the sampling state and a
/// parent span id, with their three dashes.
const MAX_SINGLE_LEN: usize = 32 + 1 + 16 + 1 + 1 + 1 + 16;

static SINGLE_FIELDS: LazyLock<[String; 1]> = LazyLock::new(|| [B3.to_owned()]);
static MULTI_FIELDS: LazyLock<[String; 4]> =
    LazyLock::new(|| [TRACE_ID, SPAN_ID, SAMPLED, FLAGS].map(str::to_owned));

/// Which headers [`B3Propagator`] injects; it extracts both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum B3Encoding {
    /// One `b3` header, `{trace id}-{span id}-{sampling state}`: `OTEL_PROPAGATORS=b3`.
    #[default]
    SingleHeader,
    /// `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled` (or `X-B3-Flags: 1` for debug):
    /// `OTEL_PROPAGATORS=b3multi`.
    MultipleHeaders,
}

/// The B3 propagator of openzipkin's b3-propagation, as Zipkin and the services around it
/// speak it: injects the form of its [`B3Encoding`], the single `b3` header
/// (`OTEL_PROPAGATORS=b3`) or the `X-B3-*` headers (`b3multi`), and extracts either.
///
/// Extraction reads both forms, the single header first (a malformed
/// one falls back to the multiple headers), as the OpenTelemetry specification asks:
///
/// - trace ids of 128 bits (32 hex digits) or 64 bits (16, left-padded with zeros), span ids of
///   64 bits, lowercase hex, not all zeros;
/// - the sampling state `1` (accept), `0` (deny), `d` (debug; `X-B3-Flags: 1` in the multiple
///   headers, where `X-B3-Sampled` also takes the legacy `true` and `false`). Debug sets the
///   sampled flag and is passed on to the next hop. Without a sampling state (deferred) the
///   caller's trace is continued as sampled, the decision the default parent-based sampler
///   makes for a trace of its own;
/// - a deny with no ids (`b3: 0`, or `X-B3-Sampled: 0` alone): the context holds an invalid,
///   unsampled remote parent, which the parent-based samplers follow, so the request's spans
///   are not sampled; they start a trace of their own;
/// - the parent span id is checked and dropped: OpenTelemetry does not share a span id between
///   the two sides of a request, so it is never injected either.
///
/// Anything else (a wrong length, uppercase or non-hex digits, an unknown sampling state,
/// extra fields) leaves the context as it was. A value is looked at only when its length can
/// be that of a valid one, so garbage costs a length comparison; parsing allocates nothing.
///
/// ```
/// use std::collections::HashMap;
/// use obs_core::{B3Encoding, B3Propagator};
/// use obs_core::opentelemetry::propagation::TextMapPropagator;
/// use obs_core::opentelemetry::trace::TraceContextExt;
///
/// let b3 = B3Propagator::new(B3Encoding::SingleHeader);
/// let incoming = HashMap::from([(
///     "b3".to_owned(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_owned(),
/// )]);
/// let cx = b3.extract(&incoming);
/// assert_eq!(
///     cx.span().span_context().trace_id().to_string(),
///     "80f198ee56343ba864fe8b2a57d3eff7"
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator injecting `encoding`.
    pub const fn new(encoding: B3Encoding) -> Self {
        B3Propagator { encoding }
    }

    /// The headers it injects.
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }
}

/// A B3 decision the span context cannot hold, kept in the context beside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    /// The caller asked for debug: sampled, and debug again at the next hop.
    Debug,
    /// The caller denied sampling without sending ids.
    DenyOnly,
}

/// What one carrier held.
#[derive(Debug, PartialEq, Eq)]
enum Extracted {
    /// A caller's span.
    Span {
        trace_id: TraceId,
        span_id: SpanId,
        sampled: bool,
        debug: bool,
    },
    /// `b3: 0` or `X-B3-Sampled: 0` without ids.
    DenyOnly,
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        let decision = cx.get::<Decision>().copied();
        if !sc.is_valid() {
            if decision == Some(Decision::DenyOnly) {
                match self.encoding {
                    B3Encoding::SingleHeader => injector.set(B3, "0".to_owned()),
                    B3Encoding::MultipleHeaders => injector.set(SAMPLED, "0".to_owned()),
                }
            }
            return;
        }
        let debug = decision == Some(Decision::Debug) && sc.is_sampled();
        let state = match (debug, sc.is_sampled()) {
            (true, _) => "d",
            (false, true) => "1",
            (false, false) => "0",
        };
        match self.encoding {
            B3Encoding::SingleHeader => {
                injector.set(B3, format!("{}-{}-{state}", sc.trace_id(), sc.span_id()))
            }
            B3Encoding::MultipleHeaders => {
                injector.set(TRACE_ID, sc.trace_id().to_string());
                injector.set(SPAN_ID, sc.span_id().to_string());
                // Debug implies accept: the spec sends the flag instead of `X-B3-Sampled`.
                if debug {
                    injector.set(FLAGS, "1".to_owned());
                } else {
                    injector.set(SAMPLED, state.to_owned());
                }
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let extracted = extractor
            .get(B3)
            .and_then(parse_single)
            .or_else(|| parse_multiple(extractor));
        match extracted {
            Some(Extracted::Span {
                trace_id,
                span_id,
                sampled,
                debug,
            }) => {
                let flags = if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                };
                let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE);
                let cx = cx.with_remote_span_context(remote);
                if debug {
                    cx.with_value(Decision::Debug)
                } else {
                    cx
                }
            }
            // A deny alone does not undo a caller's span another propagator found.
            Some(Extracted::DenyOnly) if !cx.span().span_context().is_valid() => cx
                .with_remote_span_context(SpanContext::new(
                    TraceId::INVALID,
                    SpanId::INVALID,
                    TraceFlags::default(),
                    true,
                    TraceState::NONE,
                ))
                .with_value(Decision::DenyOnly),
            _ => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        match self.encoding {
            B3Encoding::SingleHeader => FieldIter::new(SINGLE_FIELDS.as_slice()),
            B3Encoding::MultipleHeaders => FieldIter::new(MULTI_FIELDS.as_slice()),
        }
    }
}

/// `{trace id}-{span id}[-{sampling state}[-{parent span id}]]`, or `0`.
fn parse_single(value: &str) -> Option<Extracted> {
    if value.len() > MAX_SINGLE_LEN {
        return None;
    }
    if value == "0" {
        return Some(Extracted::DenyOnly);
    }
    let mut parts = value.split('-');
    let trace_id = parse_trace_id(parts.next()?)?;
    let span_id = parse_span_id(parts.next()?)?;
    let (sampled, debug) = match parts.next() {
        // Deferred: continued as sampled (see the module docs).
        None => (true, false),
        Some("1") => (true, false),
        Some("0") => (false, false),
        Some("d") => (true, true),
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        parse_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Extracted::Span {
        trace_id,
        span_id,
        sampled,
        debug,
    })
}

/// The `X-B3-*` headers.
fn parse_multiple(extractor: &dyn Extractor) -> Option<Extracted> {
    let debug = extractor.get(FLAGS) == Some("1");
    let sampled = match extractor.get(SAMPLED) {
        None => None,
        Some("1" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(_) => return None,
    };
    let (Some(trace), Some(span)) = (extractor.get(TRACE_ID), extractor.get(SPAN_ID)) else {
        return (sampled == Some(false) && !debug).then_some(Extracted::DenyOnly);
    };
    let trace_id = parse_trace_id(trace)?;
    let span_id = parse_span_id(span)?;
    if let Some(parent) = extractor.get(PARENT_SPAN_ID) {
        parse_span_id(parent)?;
    }
    Some(Extracted::Span {
        trace_id,
        span_id,
        // Debug implies accept; no sampling state is deferred, continued as sampled.
        sampled: debug || sampled.unwrap_or(true),
        debug,
    })
}

/// A 128-bit or (left-padded) 64-bit trace id, not all zeros.
fn parse_trace_id(hex: &str) -> Option<TraceId> {
    if hex.len() != 32 && hex.len() != 16 {
        return None;
    }
    lower_hex(hex)
        .and_then(|s| u128::from_str_radix(s, 16).ok())
        .filter(|&id| id != 0)
        .map(TraceId::from)
}

/// A 64-bit span id, not all zeros.
fn parse_span_id(hex: &str) -> Option<SpanId> {
    if hex.len() != 16 {
        return None;
    }
    lower_hex(hex)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .filter(|&id| id != 0)
        .map(SpanId::from)
}

/// `s` if it is lowercase hex digits only (`from_str_radix` also takes `+` and uppercase).
fn lower_hex(s: &str) -> Option<&str> {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(s)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
    use proptest::prelude::*;

    use super::*;

    /// The example of openzipkin's b3-propagation README.
    const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const SPAN: &str = "e457b5a2e4d86bd1";
    const PARENT: &str = "05e3ac9a4f6e3b90";

    const SINGLE: B3Propagator = B3Propagator::new(B3Encoding::SingleHeader);
    const MULTI: B3Propagator = B3Propagator::new(B3Encoding::MultipleHeaders);

    /// Headers as an HTTP header map holds them: names are case-insensitive, kept lowercase.
    fn carrier(headers: &[(&str, &str)]) -> HashMap<String, String> {
        headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
    }

    /// Trace id, span id, sampled, remote and debug of what `headers` extract to, or `None`
    /// when the context holds no span.
    fn extract(headers: &[(&str, &str)]) -> Option<(String, String, bool, bool, bool)> {
        let cx = SINGLE.extract_with_context(&Context::new(), &carrier(headers));
        if !cx.has_active_span() {
            return None;
        }
        let sc = cx.span().span_context().clone();
        Some((
            sc.trace_id().to_string(),
            sc.span_id().to_string(),
            sc.is_sampled(),
            sc.is_remote(),
            cx.get::<Decision>() == Some(&Decision::Debug),
        ))
    }

    fn inject(propagator: B3Propagator, cx: &Context) -> HashMap<String, String> {
        let mut out = HashMap::new();
        propagator.inject_context(cx, &mut out);
        out
    }

    fn remote(trace: &str, span: &str, sampled: bool) -> Context {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_hex(trace).unwrap(),
            SpanId::from_hex(span).unwrap(),
            flags,
            true,
            TraceState::NONE,
        ))
    }

    #[test]
    fn the_spec_examples_extract_in_both_forms() {
        let expected = Some((TRACE.to_owned(), SPAN.to_owned(), true, true, false));
        let single = format!("{TRACE}-{SPAN}-1-{PARENT}");
        assert_eq!(extract(&[("b3", &single)]), expected);
        assert_eq!(
            extract(&[
                ("X-B3-TraceId", TRACE),
                ("X-B3-ParentSpanId", PARENT),
                ("X-B3-SpanId", SPAN),
                ("X-B3-Sampled", "1"),
            ]),
            expected
        );
        // Without the parent, and lowercase header names as HTTP/2 sends them.
        assert_eq!(extract(&[("b3", &format!("{TRACE}-{SPAN}-1"))]), expected);
        assert_eq!(
            extract(&[
                ("x-b3-traceid", TRACE),
                ("x-b3-spanid", SPAN),
                ("x-b3-sampled", "1")
            ]),
            expected
        );
    }

    #[test]
    fn sixty_four_bit_trace_ids_are_left_padded() {
        let padded = "0000000000000000a3ce929d0e0e4736".to_owned();
        assert_eq!(
            extract(&[("b3", "a3ce929d0e0e4736-00f067aa0ba902b7-1")]),
            Some((padded.clone(), "00f067aa0ba902b7".into(), true, true, false))
        );
        assert_eq!(
            extract(&[
                ("X-B3-TraceId", "a3ce929d0e0e4736"),
                ("X-B3-SpanId", "00f067aa0ba902b7"),
                ("X-B3-Sampled", "0"),
            ]),
            Some((padded, "00f067aa0ba902b7".into(), false, true, false))
        );
    }

    #[test]
    fn sampling_states_accept_deny_and_deferred() {
        let state = |value: String| extract(&[("b3", &value)]).map(|e| e.2);
        assert_eq!(state(format!("{TRACE}-{SPAN}-1")), Some(true));
        assert_eq!(state(format!("{TRACE}-{SPAN}-0")), Some(false));
        assert_eq!(state(format!("{TRACE}-{SPAN}-0-{PARENT}")), Some(false));
        // Deferred: continued as sampled.
        assert_eq!(state(format!("{TRACE}-{SPAN}")), Some(true));
        let multi = |sampled: Option<&str>| {
            let mut headers = vec![("X-B3-TraceId", TRACE), ("X-B3-SpanId", SPAN)];
            headers.extend(sampled.map(|s| ("X-B3-Sampled", s)));
            extract(&headers).map(|e| e.2)
        };
        assert_eq!(multi(Some("0")), Some(false));
        assert_eq!(multi(Some("false")), Some(false));
        assert_eq!(multi(Some("true")), Some(true));
        assert_eq!(multi(None), Some(true));
        assert_eq!(multi(Some("yes")), None);
    }

    #[test]
    fn debug_is_sampled_and_passed_on_in_either_form() {
        let single = extract(&[("b3", &format!("{TRACE}-{SPAN}-d"))]);
        assert_eq!(single, Some((TRACE.into(), SPAN.into(), true, true, true)));
        // `X-B3-Flags: 1` wins over a deny, as debug implies accept.
        let multi = extract(&[
            ("X-B3-TraceId", TRACE),
            ("X-B3-SpanId", SPAN),
            ("X-B3-Sampled", "0"),
            ("X-B3-Flags", "1"),
        ]);
        assert_eq!(multi, Some((TRACE.into(), SPAN.into(), true, true, true)));

        let cx = SINGLE.extract_with_context(
            &Context::new(),
            &carrier(&[("b3", &format!("{TRACE}-{SPAN}-d"))]),
        );
        assert_eq!(
            inject(SINGLE, &cx),
            carrier(&[("b3", &format!("{TRACE}-{SPAN}-d"))])
        );
        assert_eq!(
            inject(MULTI, &cx),
            carrier(&[
                ("x-b3-traceid", TRACE),
                ("x-b3-spanid", SPAN),
                ("x-b3-flags", "1")
            ])
        );
    }

    #[test]
    fn a_deny_without_ids_makes_the_parent_based_sampler_drop_the_span() {
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
            .build();
        let tracer = provider.tracer("b3-test");
        let sampled_under = |headers: &[(&str, &str)]| {
            let cx = SINGLE.extract_with_context(&Context::new(), &carrier(headers));
            let span = tracer
                .span_builder("server")
                .with_kind(SpanKind::Server)
                .start_with_context(&tracer, &cx);
            span.span_context().is_sampled()
        };
        assert!(!sampled_under(&[("b3", "0")]));
        assert!(!sampled_under(&[("X-B3-Sampled", "0")]));
        // Without a deny the same sampler samples: the deny is what dropped it.
        assert!(sampled_under(&[]));
        assert!(sampled_under(&[("b3", "1")]));

        // Passed on as it came, in either form, and only a deny.
        let cx = SINGLE.extract_with_context(&Context::new(), &carrier(&[("b3", "0")]));
        assert_eq!(inject(SINGLE, &cx), carrier(&[("b3", "0")]));
        assert_eq!(inject(MULTI, &cx), carrier(&[("x-b3-sampled", "0")]));
        assert!(inject(SINGLE, &Context::new()).is_empty());
    }

    #[test]
    fn a_deny_alone_does_not_undo_a_span_found_by_an_earlier_propagator() {
        let headers = carrier(&[
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("b3", "0"),
        ]);
        let cx = TraceContextPropagator::new().extract_with_context(&Context::new(), &headers);
        let cx = SINGLE.extract_with_context(&cx, &headers);
        let sc = cx.span().span_context().clone();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(sc.is_sampled());
    }

    #[test]
    fn inject_writes_ids_and_the_decision_never_the_parent() {
        let cx = remote(TRACE, SPAN, true);
        assert_eq!(
            inject(SINGLE, &cx),
            carrier(&[("b3", &format!("{TRACE}-{SPAN}-1"))])
        );
        assert_eq!(
            inject(MULTI, &cx),
            carrier(&[
                ("x-b3-traceid", TRACE),
                ("x-b3-spanid", SPAN),
                ("x-b3-sampled", "1")
            ])
        );
        let cx = remote(TRACE, SPAN, false);
        assert_eq!(
            inject(SINGLE, &cx),
            carrier(&[("b3", &format!("{TRACE}-{SPAN}-0"))])
        );
        assert_eq!(inject(MULTI, &cx)["x-b3-sampled"], "0");
        assert_eq!(
            SINGLE.fields().collect::<Vec<_>>(),
            ["b3"],
            "the single form's field"
        );
        assert_eq!(
            MULTI.fields().collect::<Vec<_>>(),
            ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]
        );
    }

    #[test]
    fn a_malformed_single_header_falls_back_to_the_multiple_headers() {
        assert_eq!(
            extract(&[
                ("b3", "not-b3"),
                ("X-B3-TraceId", TRACE),
                ("X-B3-SpanId", SPAN),
            ]),
            Some((TRACE.into(), SPAN.into(), true, true, false))
        );
    }

    #[test]
    fn malformed_values_extract_to_no_context() {
        let long = format!("{TRACE}-{SPAN}-1-{PARENT}{}", "0".repeat(1 << 20));
        let singles = [
            String::new(),
            "-".into(),
            "1".into(),
            "d".into(),
            "00".into(),
            TRACE.into(),
            format!("{TRACE}-"),
            format!("{TRACE}-{SPAN}-"),
            format!("{TRACE}-{SPAN}-2"),
            format!("{TRACE}-{SPAN}-true"),
            format!("{TRACE}-{SPAN}-1-"),
            format!("{TRACE}-{SPAN}-1-{PARENT}-x"),
            format!("{TRACE}-{SPAN}-1-05e3ac9a4f6e3b9"),
            format!("{}-{SPAN}-1", TRACE.to_uppercase()),
            format!("{TRACE}-{}-1", SPAN.to_uppercase()),
            format!("{}-{SPAN}-1", "0".repeat(32)),
            format!("{TRACE}-{}-1", "0".repeat(16)),
            format!("{}-{SPAN}-1", &TRACE[..31]),
            format!("{}-{SPAN}-1", &TRACE[..24]),
            format!("+{}-{SPAN}-1", &TRACE[1..]),
            format!("{TRACE}-+{}-1", &SPAN[1..]),
            format!("{TRACE}-{SPAN}-1 "),
            format!("{}é-{SPAN}-1", &TRACE[..30]),
            format!("{TRACE}{SPAN}"),
            long,
        ];
        for value in singles {
            assert_eq!(extract(&[("b3", &value)]), None, "b3: {value:?}");
        }
        let multis: [&[(&str, &str)]; 7] = [
            &[("X-B3-TraceId", TRACE)],
            &[("X-B3-SpanId", SPAN)],
            &[("X-B3-TraceId", TRACE), ("X-B3-SpanId", "xyz")],
            &[("X-B3-TraceId", "abc"), ("X-B3-SpanId", SPAN)],
            &[("X-B3-Sampled", "1")],
            &[("X-B3-Flags", "1"), ("X-B3-Sampled", "0")],
            &[
                ("X-B3-TraceId", TRACE),
                ("X-B3-SpanId", SPAN),
                ("X-B3-ParentSpanId", "0xdeadbeef"),
            ],
        ];
        for headers in multis {
            assert_eq!(extract(headers), None, "{headers:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever a caller sends, extraction returns; what it accepts injects back with the
        /// same ids (the trace id padded to 32 digits) and extracts again to the same context.
        #[test]
        fn any_single_header_extracts_without_panicking(
            value in "\\PC{0,80}|([0-9a-f]{16}|[0-9a-f]{32}|[0-9a-f]{1,33})(-([0-9a-f]{16}|[01d]|[0-9a-f]{1,17})){0,4}"
        ) {
            let cx = SINGLE.extract_with_context(&Context::new(), &carrier(&[("b3", &value)]));
            let sc = cx.span().span_context().clone();
            if sc.is_valid() {
                let injected = inject(SINGLE, &cx).remove("b3").unwrap();
                let mut parts = value.split('-');
                let (trace, span) = (parts.next().unwrap(), parts.next().unwrap());
                prop_assert_eq!(&injected[..32], format!("{trace:0>32}"));
                prop_assert_eq!(&injected[32..50], format!("-{span}-"));
                let again = SINGLE
                    .extract_with_context(&Context::new(), &carrier(&[("b3", &injected)]));
                prop_assert_eq!(again.span().span_context().clone(), sc);
            }
        }

        /// Any span context injected in either form extracts back to itself.
        #[test]
        fn inject_then_extract_round_trips(
            trace in 1u128..,
            span in 1u64..,
            sampled: bool,
            multi: bool,
        ) {
            let flags = if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
            let sc = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                flags,
                true,
                TraceState::NONE,
            );
            let propagator = if multi { MULTI } else { SINGLE };
            let headers = inject(propagator, &Context::new().with_remote_span_context(sc.clone()));
            let back = SINGLE.extract_with_context(&Context::new(), &headers);
            prop_assert_eq!(back.span().span_context().clone(), sc);
        }
    }
}
