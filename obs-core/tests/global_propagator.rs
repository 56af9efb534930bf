//! `install_propagator` installs the same defaults as `init`: trace context and baggage. Its
//! own test binary, since it sets process-global state.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{Context, KeyValue};

#[test]
fn the_global_default_carries_trace_context_and_baggage() {
    obs_core::install_propagator();
    let cx = Context::new()
        .with_baggage(vec![KeyValue::new("tenant", "acme")])
        .with_remote_span_context(SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            Default::default(),
        ));
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    assert_eq!(
        carrier["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(carrier["baggage"], "tenant=acme");
}
