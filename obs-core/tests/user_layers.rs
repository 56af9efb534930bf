//! The application's own `tracing` layers, given to `TelemetryBuilder::with_layer`, see the
//! spans and events of the subscriber obs builds, through their own filter.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use obs_core::Telemetry;
use obs_core::tracing_subscriber::filter::LevelFilter;
use obs_core::tracing_subscriber::layer::{Context, Layer};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};

/// Counts the spans and events it is shown.
#[derive(Clone, Default)]
struct Counting {
    spans: Arc<AtomicUsize>,
    events: Arc<AtomicUsize>,
}

impl<S: Subscriber> Layer<S> for Counting {
    fn on_new_span(&self, _: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        self.spans.fetch_add(1, Ordering::Relaxed);
    }
    fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

fn telemetry(all: &Counting, warnings: &Counting) -> Telemetry {
    Telemetry::builder("layers")
        .log_writer(std::io::sink)
        .log_filter("error")
        .with_layer(all.clone())
        .with_layer(warnings.clone().with_filter(LevelFilter::WARN))
        .build()
        .unwrap()
}

#[test]
fn user_layers_see_the_subscriber_through_their_own_filters() {
    let (all, warnings) = (Counting::default(), Counting::default());
    let telemetry = telemetry(&all, &warnings);
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        let span = tracing::info_span!("checkout");
        span.in_scope(|| {
            tracing::info!("charged");
            tracing::warn!("slow card network");
        });
    });
    // obs's own log filter (`error`) does not hide anything from the application's layers.
    assert_eq!(all.spans.load(Ordering::Relaxed), 1);
    assert_eq!(all.events.load(Ordering::Relaxed), 2);
    // A layer's own filter applies to it alone.
    assert_eq!(warnings.spans.load(Ordering::Relaxed), 0);
    assert_eq!(warnings.events.load(Ordering::Relaxed), 1);
}

/// With the default filters obs's layers could share one filter in front of the subscriber;
/// with an application layer they keep their own, so the application's layer still sees
/// below `info`.
#[test]
fn a_user_layer_sees_below_obs_default_filters() {
    let all = Counting::default();
    let telemetry = Telemetry::builder("layers")
        .log_writer(std::io::sink)
        .with_layer(all.clone())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::debug_span!("cache_lookup").in_scope(|| tracing::trace!("miss"));
    });
    assert_eq!(all.spans.load(Ordering::Relaxed), 1);
    assert_eq!(all.events.load(Ordering::Relaxed), 1);
}
