//! The trace context a request carries: extracted with the layer's propagator or the global
//! one, or, when the layer knows its propagators, not extracted at all from a request that
//! carries none of their headers.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, Request};
use obs_core::Propagator;
use opentelemetry::propagation::{Extractor, TextMapPropagator};

use crate::layer::Config;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// The propagator the layer extracts with and, when it is made of known propagators, the
/// headers without which it extracts nothing.
#[derive(Clone)]
pub(crate) struct Extraction {
    /// `None`: the global propagator, read per request.
    pub(crate) propagator: Option<Arc<dyn TextMapPropagator + Send + Sync>>,
    /// Set only for a propagator built from `propagators` by [`Extraction::known`].
    only_from: Option<KnownHeaders>,
}

/// The headers the W3C propagators read: trace context needs `traceparent` (`tracestate`
/// counts only beside a valid one), baggage needs `baggage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownHeaders {
    traceparent: bool,
    baggage: bool,
}

impl Extraction {
    /// The global propagator.
    pub(crate) fn global() -> Self {
        Extraction {
            propagator: None,
            only_from: None,
        }
    }

    /// `propagator`, of which nothing is known.
    pub(crate) fn with(propagator: Arc<dyn TextMapPropagator + Send + Sync>) -> Self {
        Extraction {
            propagator: Some(propagator),
            only_from: None,
        }
    }

    /// `propagator`, built from `propagators` (as [`obs_core::Telemetry::propagator`] builds
    /// it from [`obs_core::Telemetry::propagators`]). Made of W3C propagators only, it extracts
    /// nothing from a request without their headers, and such a request is not asked.
    pub(crate) fn known(
        propagator: Arc<dyn TextMapPropagator + Send + Sync>,
        propagators: &[Propagator],
    ) -> Self {
        let w3c_only = propagators
            .iter()
            .all(|p| matches!(p, Propagator::TraceContext | Propagator::Baggage));
        Extraction {
            propagator: Some(propagator),
            only_from: w3c_only.then(|| KnownHeaders {
                traceparent: propagators.contains(&Propagator::TraceContext),
                baggage: propagators.contains(&Propagator::Baggage),
            }),
        }
    }

    pub(crate) fn is_known(&self) -> bool {
        self.only_from.is_some()
    }
}

/// The trace context `req` carries, on top of the current context, as
/// `TextMapPropagator::extract` gives it.
pub(crate) fn extract<B>(req: &Request<B>, config: &Config) -> opentelemetry::Context {
    extract_from(req.headers(), &config.extraction)
}

fn extract_from(headers: &HeaderMap, extraction: &Extraction) -> opentelemetry::Context {
    if let Some(known) = extraction.only_from
        && !(known.traceparent && headers.contains_key(TRACEPARENT))
        && !(known.baggage && headers.contains_key(BAGGAGE))
    {
        // What the propagators would have returned: the current context, unchanged.
        return opentelemetry::Context::current();
    }
    match &extraction.propagator {
        Some(propagator) => propagator.extract(&Headers(headers)),
        None => opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&Headers(headers))
        }),
    }
}

/// The request headers as the propagators read them. `opentelemetry_http::HeaderExtractor`
/// parses the name given as `&str` on every lookup; the names the W3C propagators ask for are
/// parsed once.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = match key {
            "traceparent" => self.0.get(TRACEPARENT),
            "tracestate" => self.0.get(TRACESTATE),
            "baggage" => self.0.get(BAGGAGE),
            _ => self.0.get(key),
        };
        value.and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        // As `HeaderExtractor` answers: `None` without the header, else its ASCII values.
        let mut values = self.0.get_all(key).iter().peekable();
        values.peek()?;
        Some(values.filter_map(|v| v.to_str().ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use obs_core::opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
    use opentelemetry::baggage::BaggageExt;
    use opentelemetry::propagation::{Injector, TextMapCompositePropagator};
    use opentelemetry::trace::TraceContextExt;

    /// A propagator that counts the extractions it is asked for.
    #[derive(Debug)]
    struct Counting(TextMapCompositePropagator, Arc<AtomicUsize>);

    impl TextMapPropagator for Counting {
        fn inject_context(&self, cx: &opentelemetry::Context, injector: &mut dyn Injector) {
            self.0.inject_context(cx, injector);
        }
        fn extract_with_context(
            &self,
            cx: &opentelemetry::Context,
            extractor: &dyn Extractor,
        ) -> opentelemetry::Context {
            self.1.fetch_add(1, Ordering::Relaxed);
            self.0.extract_with_context(cx, extractor)
        }
        fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
            self.0.fields()
        }
    }

    fn composite(list: &[Propagator]) -> TextMapCompositePropagator {
        TextMapCompositePropagator::new(
            list.iter()
                .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
                    match p {
                        Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                        Propagator::Baggage => Box::new(BaggagePropagator::new()),
                        _ => Box::new(obs_core::B3Propagator::new(
                            obs_core::B3Encoding::SingleHeader,
                        )),
                    }
                })
                .collect(),
        )
    }

    #[derive(Debug, PartialEq)]
    struct Seen {
        span: opentelemetry::trace::SpanContext,
        baggage: Vec<(String, String)>,
        marker: Option<u32>,
    }

    fn seen(cx: &opentelemetry::Context) -> Seen {
        let mut baggage: Vec<(String, String)> = cx
            .baggage()
            .iter()
            .map(|(k, (v, _))| (k.to_string(), v.to_string()))
            .collect();
        baggage.sort();
        Seen {
            span: cx.span().span_context().clone(),
            baggage,
            marker: cx.get::<u32>().copied(),
        }
    }

    /// Every list of known propagators, with every mix of their headers (present, malformed,
    /// absent) and of others: the shortcut gives what the propagators give, and skips them
    /// exactly when the request carries none of their headers.
    #[test]
    fn the_shortcut_extracts_what_the_propagators_do() {
        use Propagator::{B3, Baggage, TraceContext};
        let lists: [&[Propagator]; 7] = [
            &[],
            &[TraceContext],
            &[Baggage],
            &[TraceContext, Baggage],
            &[Baggage, TraceContext],
            &[TraceContext, Baggage, B3],
            &[B3],
        ];
        let traceparents = [
            None,
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"),
            Some(""),
        ];
        let baggages = [None, Some("user=alice,plan=pro"), Some("===")];
        let b3s = [
            None,
            Some("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
        ];
        // Extraction builds on the current context: it must come through either way.
        let _current = opentelemetry::Context::current_with_value(7_u32).attach();
        for list in lists {
            for traceparent in traceparents {
                for baggage in baggages {
                    for b3 in b3s {
                        let mut headers = HeaderMap::new();
                        headers.insert("x-other", "1".parse().unwrap());
                        headers.insert("tracestate", "vendor=1".parse().unwrap());
                        for (name, value) in [
                            ("traceparent", traceparent),
                            ("baggage", baggage),
                            ("b3", b3),
                        ] {
                            if let Some(value) = value {
                                headers.insert(name, value.parse().unwrap());
                            }
                        }
                        let calls = Arc::new(AtomicUsize::new(0));
                        let counting = Counting(composite(list), Arc::clone(&calls));
                        let known = Extraction::known(Arc::new(counting), list);
                        let got = seen(&extract_from(&headers, &known));
                        let want = seen(&composite(list).extract(&Headers(&headers)));
                        let case = format!("{list:?} {traceparent:?} {baggage:?} {b3:?}");
                        assert_eq!(got, want, "{case}");
                        assert_eq!(got.marker, Some(7), "{case}");
                        let w3c_only = !list.contains(&B3);
                        let carries = (list.contains(&TraceContext) && traceparent.is_some())
                            || (list.contains(&Baggage) && baggage.is_some());
                        let expected_calls = usize::from(!w3c_only || carries);
                        assert_eq!(calls.load(Ordering::Relaxed), expected_calls, "{case}");
                    }
                }
            }
        }
    }
}
