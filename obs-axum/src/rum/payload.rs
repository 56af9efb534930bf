//! The Faro Web SDK payload, as far as the receiver reads it.
//!
//! Every field is optional and unknown fields are skipped unbuilt, so payloads from older and
//! newer SDKs parse; a field of the wrong JSON type fails the whole request with `400`.
//! Collections are capped while parsing (see [`limits`](super::limits)).

use serde::{Deserialize, Deserializer};

use super::limits::{Capped, Scalar, ScalarMap, capped_seq};
use super::spans::Traces;

/// One batch: `{ meta, exceptions?, logs?, measurements?, events?, traces? }`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Payload {
    pub(crate) meta: Meta,
    #[serde(deserialize_with = "exceptions")]
    pub(crate) exceptions: Vec<Exception>,
    #[serde(deserialize_with = "logs")]
    pub(crate) logs: Vec<Log>,
    #[serde(deserialize_with = "measurements")]
    pub(crate) measurements: Vec<Measurement>,
    #[serde(deserialize_with = "events")]
    pub(crate) events: Vec<Event>,
    /// OTLP/JSON `{resourceSpans: [...]}`.
    pub(crate) traces: Option<Traces>,
}

fn exceptions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Exception>, D::Error> {
    capped_seq(Capped::Exceptions, d)
}
fn logs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Log>, D::Error> {
    capped_seq(Capped::Logs, d)
}
fn measurements<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Measurement>, D::Error> {
    capped_seq(Capped::Measurements, d)
}
fn events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
    capped_seq(Capped::Events, d)
}
fn frames<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Frame>, D::Error> {
    capped_seq(Capped::Frames, d)
}

/// `meta`: who sent the batch, from which page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Meta {
    pub(crate) app: Option<App>,
    pub(crate) session: Option<Session>,
    pub(crate) page: Option<Page>,
    pub(crate) browser: Option<Browser>,
    pub(crate) user: Option<User>,
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

/// `meta.user`: only the id is read; names and emails are never logged.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct User {
    pub(crate) id: Option<String>,
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
    #[serde(deserialize_with = "frames")]
    pub(crate) frames: Vec<Frame>,
}

/// One stack frame.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Frame {
    pub(crate) filename: Option<String>,
    pub(crate) function: Option<String>,
    pub(crate) lineno: Option<Scalar>,
    pub(crate) colno: Option<Scalar>,
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
    pub(crate) values: ScalarMap,
    pub(crate) context: ScalarMap,
}

/// One custom event.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Event {
    pub(crate) name: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) attributes: ScalarMap,
    pub(crate) trace: Option<TraceContext>,
}

impl Payload {
    /// The number of items kept, spans included.
    pub(crate) fn item_count(&self) -> u64 {
        (self.logs.len() + self.exceptions.len() + self.measurements.len() + self.events.len())
            as u64
            + self.span_count()
    }

    /// The number of spans kept in `traces`.
    pub(crate) fn span_count(&self) -> u64 {
        self.traces.as_ref().map_or(0, Traces::span_count)
    }
}

#[cfg(test)]
mod tests {
    use super::super::limits::{BatchLimits, parse};
    use super::*;

    const SPAN: &str =
        r#"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"x"}"#;

    #[test]
    fn unknown_fields_and_missing_keys_parse() {
        let body = format!(
            r#"{{"meta":{{"sdk":{{"name":"x"}},"browser":{{"brands":"unknown","name":"Chrome"}}}},
                "exceptions":[{{"type":"TypeError","value":"x","extra":1}}],
                "traces":{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{SPAN},{SPAN}]}}]}}]}}}}"#
        );
        let (p, _) = parse::<Payload>(BatchLimits::default(), body.as_bytes()).unwrap();
        assert_eq!(p.exceptions.len(), 1);
        assert_eq!(p.span_count(), 2);
        assert_eq!(p.item_count(), 3);
        let (empty, _) = parse::<Payload>(BatchLimits::default(), b"{}").unwrap();
        assert_eq!(empty.span_count(), 0);
    }

    #[test]
    fn every_kind_is_capped_while_parsing() {
        let limits = BatchLimits::default()
            .logs(1)
            .exceptions(2)
            .measurements(3)
            .events(4)
            .frames(5);
        let many = |item: &str, n: usize| vec![item; n].join(",");
        let body = format!(
            r#"{{"logs":[{}],"exceptions":[{}],"measurements":[{}],"events":[{}]}}"#,
            many("{}", 10),
            many(
                &format!(r#"{{"stacktrace":{{"frames":[{}]}}}}"#, many("{}", 9)),
                10
            ),
            many("{}", 10),
            many("{}", 10),
        );
        let (p, skipped) = parse::<Payload>(limits, body.as_bytes()).unwrap();
        assert_eq!(
            (
                p.logs.len(),
                p.exceptions.len(),
                p.measurements.len(),
                p.events.len()
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(p.exceptions[0].stacktrace.as_ref().unwrap().frames.len(), 5);
        assert_eq!(skipped.items, 9 + 8 + 7 + 6);
        // Frames of kept exceptions only: skipped exceptions are never built.
        assert_eq!(skipped.frames, 2 * 4);
    }
}
