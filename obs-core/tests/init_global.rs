//! `init()` installs globally once; a second call is an error, not a panic.

#![allow(clippy::unwrap_used)]

use obs_core::{Error, Telemetry};

#[test]
fn second_init_is_an_error() {
    let first = Telemetry::builder("global")
        .log_writer(std::io::sink)
        .init()
        .expect("first init");
    let second = Telemetry::builder("global")
        .log_writer(std::io::sink)
        .init();
    assert!(
        matches!(second, Err(Error::AlreadyInitialized)),
        "{second:?}"
    );
    // The global propagator is the W3C one after init.
    let mut carrier = std::collections::HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| {
        let fields: Vec<_> = p.fields().collect();
        assert!(fields.contains(&"traceparent"), "{fields:?}");
        p.inject_context(&opentelemetry::Context::current(), &mut carrier);
    });
    drop(first);
}
