//! Browser spans: the batch's OTLP/JSON `traces`, parsed into the few fields the receiver
//! forwards, capped, and re-encoded with a resource the receiver sets itself.
//!
//! Parsing is strict where forwarding depends on it: a span needs a 32-hex-digit `traceId` and
//! a 16-hex-digit `spanId`, and times are unsigned integers; anything else fails the batch
//! with `400` instead of being forwarded. The browser's own `resource` is never read: a page
//! can claim any `service.name`, so the receiver names the service from its allow-list.
//! Attribute values other than strings, booleans and numbers, and span links, are not kept.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::limits::{Capped, Scalar, capped_seq};

/// The attribute marking a forwarded span as reported by a browser through this receiver.
pub(crate) const SOURCE_ATTRIBUTE: &str = "obs.rum.source";
/// Its value.
pub(crate) const SOURCE_BROWSER: &str = "browser";

/// `traces`: `{resourceSpans: [...]}`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Traces {
    #[serde(deserialize_with = "containers")]
    pub(crate) resource_spans: Vec<ResourceSpans>,
}

/// One resource's spans. The browser's `resource` is skipped; [`Resource`] is filled in by the
/// receiver before forwarding.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ResourceSpans {
    #[serde(skip_deserializing)]
    pub(crate) resource: Resource,
    #[serde(deserialize_with = "containers")]
    pub(crate) scope_spans: Vec<ScopeSpans>,
}

/// The resource the receiver sets.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Resource {
    pub(crate) attributes: Vec<KeyValue>,
}

/// One instrumentation scope's spans.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ScopeSpans {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<Scope>,
    #[serde(deserialize_with = "spans")]
    pub(crate) spans: Vec<Span>,
}

/// `scope: {name, version}`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Scope {
    pub(crate) name: String,
    pub(crate) version: String,
}

/// One span.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Span {
    #[serde(deserialize_with = "trace_id")]
    pub(crate) trace_id: String,
    #[serde(deserialize_with = "span_id")]
    pub(crate) span_id: String,
    #[serde(
        default,
        deserialize_with = "parent_span_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) parent_span_id: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) trace_state: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default, deserialize_with = "span_kind")]
    pub(crate) kind: u8,
    #[serde(default)]
    pub(crate) start_time_unix_nano: Nanos,
    #[serde(default)]
    pub(crate) end_time_unix_nano: Nanos,
    #[serde(default, deserialize_with = "attributes")]
    pub(crate) attributes: Vec<KeyValue>,
    #[serde(default, deserialize_with = "events")]
    pub(crate) events: Vec<SpanEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<Status>,
}

/// A span event.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct SpanEvent {
    pub(crate) time_unix_nano: Nanos,
    pub(crate) name: String,
    #[serde(deserialize_with = "attributes")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `status: {code, message}`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct Status {
    #[serde(deserialize_with = "status_code")]
    pub(crate) code: u8,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
}

/// `{key, value}`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub(crate) struct KeyValue {
    pub(crate) key: String,
    pub(crate) value: AnyValue,
}

impl KeyValue {
    pub(crate) fn string(key: &str, value: &str) -> Self {
        KeyValue {
            key: key.to_owned(),
            value: AnyValue {
                string_value: Some(value.to_owned()),
                ..AnyValue::default()
            },
        }
    }
}

/// A scalar attribute value; arrays, key-value lists and bytes are skipped.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct AnyValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) string_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bool_value: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) int_value: Option<Nanos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) double_value: Option<f64>,
}

impl AnyValue {
    pub(crate) fn is_empty(&self) -> bool {
        self.string_value.is_none()
            && self.bool_value.is_none()
            && self.int_value.is_none()
            && self.double_value.is_none()
    }
}

/// An OTLP 64-bit integer: a JSON number or a decimal string, written back as a string (the
/// protobuf JSON mapping of `int64`/`uint64`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Nanos(pub(crate) i128);

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NanosVisitor;

        impl Visitor<'_> for NanosVisitor {
            type Value = Nanos;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 64-bit integer, as a number or a decimal string")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Nanos, E> {
                Ok(Nanos(i128::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Nanos, E> {
                Ok(Nanos(i128::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Nanos, E> {
                let n: i128 = v
                    .parse()
                    .map_err(|_| E::custom("expected a decimal integer string"))?;
                if n < i128::from(i64::MIN) || n > i128::from(u64::MAX) {
                    return Err(E::custom("integer out of 64-bit range"));
                }
                Ok(Nanos(n))
            }
        }

        d.deserialize_any(NanosVisitor)
    }
}

fn containers<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    capped_seq(Capped::SpanContainers, d)
}
fn spans<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Span>, D::Error> {
    capped_seq(Capped::Spans, d)
}
fn attributes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KeyValue>, D::Error> {
    capped_seq(Capped::MapKeys, d)
}
fn events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SpanEvent>, D::Error> {
    capped_seq(Capped::MapKeys, d)
}

fn hex_id<'de, D: Deserializer<'de>>(d: D, digits: usize, what: &str) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    let valid = id.len() == digits
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && id.bytes().any(|b| b != b'0');
    if valid {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(de::Error::custom(format_args!(
            "{what} must be {digits} hex digits, not all zero"
        )))
    }
}

fn trace_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    hex_id(d, 32, "traceId")
}

fn span_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    hex_id(d, 16, "spanId")
}

/// A root span may carry an empty `parentSpanId`.
fn parent_span_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let id = Option::<String>::deserialize(d)?;
    match id {
        None => Ok(None),
        Some(id) if id.is_empty() => Ok(None),
        Some(id) => hex_id(
            serde::de::value::StrDeserializer::new(&id),
            16,
            "parentSpanId",
        )
        .map(Some),
    }
}

/// `SPAN_KIND_*` as a number (0–5) or its name.
fn span_kind<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    enumeration(
        d,
        &[
            "SPAN_KIND_UNSPECIFIED",
            "SPAN_KIND_INTERNAL",
            "SPAN_KIND_SERVER",
            "SPAN_KIND_CLIENT",
            "SPAN_KIND_PRODUCER",
            "SPAN_KIND_CONSUMER",
        ],
    )
}

/// `STATUS_CODE_*` as a number (0–2) or its name.
fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    enumeration(
        d,
        &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"],
    )
}

fn enumeration<'de, D: Deserializer<'de>>(d: D, names: &[&str]) -> Result<u8, D::Error> {
    let index = match Scalar::deserialize(d)? {
        Scalar::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Scalar::String(s) => names.iter().position(|name| *name == s),
        _ => None,
    };
    index
        .filter(|i| *i < names.len())
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| de::Error::custom(format_args!("expected one of {}", names.join(", "))))
}

impl Traces {
    /// The number of spans kept.
    pub(crate) fn span_count(&self) -> u64 {
        self.resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum()
    }

    /// Replaces every resource with one naming `service_name` and marking the spans as from a
    /// browser; drops resource and scope entries left without spans.
    pub(crate) fn set_resource(&mut self, service_name: &str) {
        self.resource_spans.retain_mut(|r| {
            r.scope_spans.retain(|s| !s.spans.is_empty());
            r.resource = Resource {
                attributes: vec![
                    KeyValue::string("service.name", service_name),
                    KeyValue::string(SOURCE_ATTRIBUTE, SOURCE_BROWSER),
                    KeyValue::string("telemetry.sdk.language", "webjs"),
                ],
            };
            !r.scope_spans.is_empty()
        });
    }

    /// Every string a browser wrote into the spans, to clip and scrub.
    pub(crate) fn for_each_string(&mut self, mut f: impl FnMut(&mut String)) {
        for scope in self
            .resource_spans
            .iter_mut()
            .flat_map(|r| &mut r.scope_spans)
        {
            if let Some(s) = &mut scope.scope {
                f(&mut s.name);
                f(&mut s.version);
            }
            for span in &mut scope.spans {
                f(&mut span.name);
                f(&mut span.trace_state);
                if let Some(status) = &mut span.status {
                    f(&mut status.message);
                }
                span.attributes.retain(|kv| !kv.value.is_empty());
                for event in &mut span.events {
                    f(&mut event.name);
                    event.attributes.retain(|kv| !kv.value.is_empty());
                    for kv in &mut event.attributes {
                        f(&mut kv.key);
                        if let Some(v) = &mut kv.value.string_value {
                            f(v);
                        }
                    }
                }
                for kv in &mut span.attributes {
                    f(&mut kv.key);
                    if let Some(v) = &mut kv.value.string_value {
                        f(v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::limits::{BatchLimits, parse};
    use super::*;

    fn span(trace: &str, span: &str) -> String {
        format!(r#"{{"traceId":"{trace}","spanId":"{span}","name":"GET /api","kind":3}}"#)
    }

    #[test]
    fn spans_reencode_with_the_receivers_resource() {
        let body = format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"evil"}}}}]}},
            "scopeSpans":[{{"scope":{{"name":"@opentelemetry/instrumentation-fetch","version":"0.1"}},"spans":[{}]}}]}}]}}"#,
            span("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7")
        );
        let (mut traces, _) = parse::<Traces>(BatchLimits::default(), body.as_bytes()).unwrap();
        traces.set_resource("todo-frontend");
        let out = serde_json::to_value(&traces).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"resourceSpans":[{
                "resource":{"attributes":[
                    {"key":"service.name","value":{"stringValue":"todo-frontend"}},
                    {"key":"obs.rum.source","value":{"stringValue":"browser"}},
                    {"key":"telemetry.sdk.language","value":{"stringValue":"webjs"}}
                ]},
                "scopeSpans":[{
                    "scope":{"name":"@opentelemetry/instrumentation-fetch","version":"0.1"},
                    "spans":[{
                        "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
                        "name":"GET /api","kind":3,
                        "startTimeUnixNano":"0","endTimeUnixNano":"0",
                        "attributes":[],"events":[]
                    }]
                }]
            }]})
        );
    }

    #[test]
    fn spans_without_valid_ids_do_not_parse() {
        for bad in [
            span("not-hex", "00f067aa0ba902b7"),
            span("00000000000000000000000000000000", "00f067aa0ba902b7"),
            span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902"),
            r#"{"spanId":"00f067aa0ba902b7"}"#.to_owned(),
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","kind":9}"#
                .to_owned(),
            r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","startTimeUnixNano":"soon"}"#
                .to_owned(),
        ] {
            let body = format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{bad}]}}]}}]}}"#);
            assert!(
                parse::<Traces>(BatchLimits::default(), body.as_bytes()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn spans_share_one_budget_across_scopes() {
        let one = span("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
        let scope = format!(r#"{{"spans":[{one},{one},{one}]}}"#);
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{scope},{scope}]}},{{"scopeSpans":[{scope}]}}]}}"#
        );
        let (traces, skipped) =
            parse::<Traces>(BatchLimits::default().spans(4), body.as_bytes()).unwrap();
        assert_eq!(traces.span_count(), 4);
        assert_eq!(skipped.items, 5);
    }

    #[test]
    fn non_scalar_attributes_are_dropped() {
        let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
            "attributes":[{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}},{"key":"b","value":{"intValue":"7"}}]}]}]}]}"#;
        let (mut traces, _) = parse::<Traces>(BatchLimits::default(), body.as_bytes()).unwrap();
        traces.for_each_string(|_| {});
        let span = &traces.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.attributes.len(), 1);
        assert_eq!(span.attributes[0].key, "b");
        assert_eq!(span.attributes[0].value.int_value, Some(Nanos(7)));
    }
}
