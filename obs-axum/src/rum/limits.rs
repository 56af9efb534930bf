//! [`BatchLimits`]: how much of one batch the receiver keeps, and the capped deserialisers
//! that enforce it while the JSON is parsed.
//!
//! The caps apply *during* parsing: items past a cap are skipped by the parser without being
//! built (serde's `IgnoredAny`), so a body of a million `{}` costs one pass over its bytes and
//! no memory per item. What is skipped is counted and reported back with the payload.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    DEFAULT_MAX_EVENTS, DEFAULT_MAX_EXCEPTIONS, DEFAULT_MAX_FRAMES, DEFAULT_MAX_LOGS,
    DEFAULT_MAX_MAP_KEYS, DEFAULT_MAX_MEASUREMENTS, DEFAULT_MAX_SPANS, DEFAULT_MAX_STRING_BYTES,
    MAX_STRING_BYTES,
};

/// Per-batch caps of the RUM receiver. Items over a cap are dropped and counted in
/// `obs_rum_items_dropped_total{reason="item_limit"}`; the batch is still answered `202`.
///
/// ```
/// use obs_axum::rum::{BatchLimits, RumReceiver};
///
/// let metrics = obs_core::Metrics::new();
/// let receiver = RumReceiver::from_metrics(&metrics)?
///     .limits(BatchLimits::default().logs(50).frames(20));
/// # Ok::<(), obs_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct BatchLimits {
    pub(crate) measurements: usize,
    pub(crate) exceptions: usize,
    pub(crate) logs: usize,
    pub(crate) events: usize,
    pub(crate) spans: usize,
    pub(crate) frames: usize,
    pub(crate) map_keys: usize,
    pub(crate) string_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            measurements: DEFAULT_MAX_MEASUREMENTS,
            exceptions: DEFAULT_MAX_EXCEPTIONS,
            logs: DEFAULT_MAX_LOGS,
            events: DEFAULT_MAX_EVENTS,
            spans: DEFAULT_MAX_SPANS,
            frames: DEFAULT_MAX_FRAMES,
            map_keys: DEFAULT_MAX_MAP_KEYS,
            string_bytes: DEFAULT_MAX_STRING_BYTES,
        }
    }
}

impl BatchLimits {
    /// Measurements (web vitals and custom) kept per batch. Defaults to
    /// [`DEFAULT_MAX_MEASUREMENTS`].
    pub fn measurements(mut self, n: usize) -> Self {
        self.measurements = n;
        self
    }

    /// Exceptions kept per batch. Defaults to [`DEFAULT_MAX_EXCEPTIONS`].
    pub fn exceptions(mut self, n: usize) -> Self {
        self.exceptions = n;
        self
    }

    /// Log items kept per batch. Defaults to [`DEFAULT_MAX_LOGS`].
    pub fn logs(mut self, n: usize) -> Self {
        self.logs = n;
        self
    }

    /// Custom events kept per batch. Defaults to [`DEFAULT_MAX_EVENTS`].
    pub fn events(mut self, n: usize) -> Self {
        self.events = n;
        self
    }

    /// Browser spans kept per batch, over all resources and scopes. Defaults to
    /// [`DEFAULT_MAX_SPANS`].
    pub fn spans(mut self, n: usize) -> Self {
        self.spans = n;
        self
    }

    /// Stack frames kept per exception; the rest are summarised as `… N more`. Defaults to
    /// [`DEFAULT_MAX_FRAMES`].
    pub fn frames(mut self, n: usize) -> Self {
        self.frames = n;
        self
    }

    /// Keys kept per map: a measurement's `values` and `context`, an event's `attributes`, a
    /// span's `attributes`. Nested objects and arrays inside these maps are not kept.
    /// Defaults to [`DEFAULT_MAX_MAP_KEYS`].
    pub fn map_keys(mut self, n: usize) -> Self {
        self.map_keys = n;
        self
    }

    /// Bytes kept of each string written to a log line or a forwarded span, cut on a
    /// character boundary with a `…` marker. At most [`MAX_STRING_BYTES`], so that no line
    /// the receiver writes exceeds [`MAX_LOG_LINE_BYTES`](super::MAX_LOG_LINE_BYTES). Defaults
    /// to [`DEFAULT_MAX_STRING_BYTES`].
    pub fn string_bytes(mut self, n: usize) -> Self {
        self.string_bytes = n.clamp(1, MAX_STRING_BYTES);
        self
    }
}

/// The kinds of capped collections, for counting what was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capped {
    Measurements,
    Exceptions,
    Logs,
    Events,
    Spans,
    /// `resourceSpans` and `scopeSpans` entries.
    SpanContainers,
    Frames,
    MapKeys,
}

/// What the parser skipped because of a cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Whole items (measurements, exceptions, logs, events, spans).
    pub(crate) items: u64,
    /// Stack frames, over all exceptions.
    pub(crate) frames: u64,
    /// Map entries, and nested values inside maps.
    pub(crate) map_keys: u64,
}

// serde's derive has no way to hand runtime settings to nested `deserialize_with` functions.
// The parse runs synchronously on one thread, so a scoped thread-local carries the limits in
// and the counts out; `parse` sets and clears both around the call.
thread_local! {
    static LIMITS: Cell<Option<BatchLimits>> = const { Cell::new(None) };
    static SPANS_LEFT: Cell<usize> = const { Cell::new(0) };
    static SKIPPED: Cell<Skipped> = const { Cell::new(Skipped { items: 0, frames: 0, map_keys: 0 }) };
}

/// Parses `bytes` as `T` under `limits`, returning what the caps skipped.
pub(crate) fn parse<T>(limits: BatchLimits, bytes: &[u8]) -> Result<(T, Skipped), serde_json::Error>
where
    T: for<'de> Deserialize<'de>,
{
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            LIMITS.set(None);
        }
    }
    LIMITS.set(Some(limits));
    SPANS_LEFT.set(limits.spans);
    SKIPPED.set(Skipped::default());
    let _reset = Reset;
    let value = serde_json::from_slice(bytes)?;
    Ok((value, SKIPPED.get()))
}

fn limits() -> BatchLimits {
    // Outside `parse` (a unit test deserialising a type directly) the defaults apply.
    LIMITS.get().unwrap_or_default()
}

fn skip(kind: Capped, n: u64) {
    let mut s = SKIPPED.get();
    match kind {
        Capped::Frames => s.frames = s.frames.saturating_add(n),
        Capped::MapKeys => s.map_keys = s.map_keys.saturating_add(n),
        _ => s.items = s.items.saturating_add(n),
    }
    SKIPPED.set(s);
}

/// How many more of `kind` a collection holding `kept` may keep. Spans share one budget per
/// batch, whatever resource and scope they sit in.
fn room(kind: Capped, kept: usize) -> usize {
    let l = limits();
    let cap = match kind {
        Capped::Measurements => l.measurements,
        Capped::Exceptions => l.exceptions,
        Capped::Logs => l.logs,
        Capped::Events => l.events,
        Capped::Spans => return SPANS_LEFT.get(),
        // Resource and scope entries are never more than the spans they could carry.
        Capped::SpanContainers => l.spans,
        Capped::Frames => l.frames,
        Capped::MapKeys => l.map_keys,
    };
    cap.saturating_sub(kept)
}

fn spend(kind: Capped) {
    if kind == Capped::Spans {
        SPANS_LEFT.set(SPANS_LEFT.get().saturating_sub(1));
    }
}

/// A sequence keeping at most its kind's cap of elements; the rest are skipped unbuilt.
pub(crate) fn capped_seq<'de, D, T>(kind: Capped, d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SeqVisitor<T>(Capped, PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let kind = self.0;
            let mut kept = Vec::new();
            while room(kind, kept.len()) > 0 {
                match seq.next_element::<T>()? {
                    Some(item) => {
                        kept.push(item);
                        spend(kind);
                    }
                    None => return Ok(kept),
                }
            }
            let mut skipped = 0u64;
            while seq.next_element::<IgnoredAny>()?.is_some() {
                skipped += 1;
            }
            skip(kind, skipped);
            Ok(kept)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }

    d.deserialize_any(SeqVisitor(kind, PhantomData))
}

/// A JSON scalar; objects and arrays where a scalar is expected are skipped unbuilt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    /// An object or array, skipped.
    Nested,
}

impl Scalar {
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::String(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Scalar::Null, Scalar::Number))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                skip(Capped::MapKeys, 1);
                Ok(Scalar::Nested)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                skip(Capped::MapKeys, 1);
                Ok(Scalar::Nested)
            }
        }

        d.deserialize_any(ScalarVisitor)
    }
}

/// A flat string-keyed map of scalars, in the order sent, keeping at most
/// [`BatchLimits::map_keys`] entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScalarMap(pub(crate) Vec<(String, Scalar)>);

impl ScalarMap {
    pub(crate) fn get(&self, key: &str) -> Option<&Scalar> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for ScalarMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor;

        impl<'de> Visitor<'de> for MapVisitor {
            type Value = ScalarMap;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_unit<E>(self) -> Result<ScalarMap, E> {
                Ok(ScalarMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ScalarMap, A::Error> {
                let cap = room(Capped::MapKeys, 0);
                let mut kept = Vec::new();
                while kept.len() < cap {
                    match map.next_entry::<String, Scalar>()? {
                        Some(entry) => kept.push(entry),
                        None => return Ok(ScalarMap(kept)),
                    }
                }
                let mut skipped = 0u64;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    skipped += 1;
                }
                skip(Capped::MapKeys, skipped);
                Ok(ScalarMap(kept))
            }
        }

        d.deserialize_any(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Doc {
        #[serde(deserialize_with = "logs")]
        logs: Vec<u32>,
        map: ScalarMap,
    }

    fn logs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
        capped_seq(Capped::Logs, d)
    }

    #[test]
    fn seqs_and_maps_stop_at_their_caps_and_count_the_rest() {
        let limits = BatchLimits::default().logs(2).map_keys(1);
        let (doc, skipped) = parse::<Doc>(
            limits,
            br#"{"logs":[1,2,{"x":[1,2]},4],"map":{"a":"x","b":{"deep":[1]},"c":3}}"#,
        )
        .unwrap();
        assert_eq!(doc.logs, vec![1, 2]);
        assert_eq!(
            doc.map.0,
            vec![("a".to_owned(), Scalar::String("x".into()))]
        );
        assert_eq!(
            skipped,
            Skipped {
                items: 2,
                frames: 0,
                map_keys: 2
            }
        );
        // The limits do not leak into the next parse on this thread.
        assert_eq!(LIMITS.get(), None);
    }

    #[test]
    fn nested_values_in_maps_are_skipped_not_built() {
        let (map, skipped) = parse::<ScalarMap>(
            BatchLimits::default(),
            br#"{"a":[[[1]]],"b":{"c":{}},"d":1.5}"#,
        )
        .unwrap();
        assert_eq!(map.get("a"), Some(&Scalar::Nested));
        assert_eq!(map.get("d").and_then(Scalar::as_f64), Some(1.5));
        assert_eq!(skipped.map_keys, 2);
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let (doc, skipped) = parse::<Doc>(
            BatchLimits::default().logs(0),
            br#"{"logs":[1,2,3],"map":{}}"#,
        )
        .unwrap();
        assert!(doc.logs.is_empty());
        assert_eq!(skipped.items, 3);
    }

    #[test]
    fn string_bytes_are_clamped() {
        assert_eq!(
            BatchLimits::default().string_bytes(1 << 20).string_bytes,
            MAX_STRING_BYTES
        );
        assert_eq!(BatchLimits::default().string_bytes(0).string_bytes, 1);
    }
}
