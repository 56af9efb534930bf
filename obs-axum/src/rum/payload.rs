//! The Faro Web SDK payload, as far as the receiver reads it.
//!
//! Every field is optional and unknown fields are ignored, so payloads from older and newer
//! SDKs parse; a field of the wrong JSON type fails the whole request with `400`.

use serde::Deserialize;
use serde_json::{Map, Value};

/// One batch: `{ meta, exceptions?, logs?, measurements?, events?, traces? }`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Payload {
    pub(crate) meta: Meta,
    pub(crate) exceptions: Vec<Exception>,
    pub(crate) logs: Vec<Log>,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) events: Vec<Event>,
    /// OTLP/JSON `{resourceSpans: [...]}`, kept as it came.
    pub(crate) traces: Option<Value>,
}

/// `meta`: who sent the batch, from which page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Meta {
    pub(crate) app: Option<App>,
    pub(crate) session: Option<Session>,
    pub(crate) page: Option<Page>,
    pub(crate) browser: Option<Browser>,
}

/// `meta.app`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct App {
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) environment: Option<String>,
}

/// `meta.session`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Session {
    pub(crate) id: Option<String>,
}

/// `meta.page`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Page {
    pub(crate) url: Option<String>,
}

/// `meta.browser`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Browser {
    pub(crate) name: Option<String>,
}

/// `trace: {trace_id, span_id}` on an item.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TraceContext {
    pub(crate) trace_id: Option<String>,
    pub(crate) span_id: Option<String>,
}

/// One exception.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Exception {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) value: Option<String>,
    pub(crate) stacktrace: Option<Stacktrace>,
    pub(crate) trace: Option<TraceContext>,
}

/// `stacktrace: {frames}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Stacktrace {
    pub(crate) frames: Vec<Frame>,
}

/// One stack frame.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Frame {
    pub(crate) filename: Option<String>,
    pub(crate) function: Option<String>,
    pub(crate) lineno: Option<Value>,
    pub(crate) colno: Option<Value>,
}

/// One log line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Log {
    pub(crate) message: Option<String>,
    pub(crate) level: Option<String>,
    pub(crate) trace: Option<TraceContext>,
}

/// One measurement; web vitals have `type: "web-vitals"`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Measurement {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) values: Map<String, Value>,
    pub(crate) context: Map<String, Value>,
}

/// One custom event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Event {
    pub(crate) name: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) trace: Option<TraceContext>,
}

impl Payload {
    /// The number of spans in `traces`.
    pub(crate) fn span_count(&self) -> u64 {
        let Some(traces) = &self.traces else {
            return 0;
        };
        let mut count = 0u64;
        for resource in array(traces, "resourceSpans") {
            for scope in array(resource, "scopeSpans") {
                count = count.saturating_add(array(scope, "spans").len() as u64);
            }
        }
        count
    }
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_missing_keys_parse() {
        let p: Payload = serde_json::from_str(
            r#"{"meta":{"sdk":{"name":"x"},"browser":{"brands":"unknown","name":"Chrome"}},
                "exceptions":[{"type":"TypeError","value":"x","extra":1}],
                "traces":{"resourceSpans":[{"scopeSpans":[{"spans":[{},{}]}]}]}}"#,
        )
        .unwrap();
        assert_eq!(p.exceptions.len(), 1);
        assert_eq!(p.span_count(), 2);
        let empty: Payload = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.span_count(), 0);
    }
}
