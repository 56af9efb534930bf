//! The JSON log line carries the OpenTelemetry ids of the span it was written in.

#![allow(clippy::unwrap_used)]

use obs_core::{LogFormat, Telemetry};
use obs_testkit::LogCapture;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[test]
fn json_line_carries_trace_and_span_id_of_current_span() {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("json-svc")
        .instance_id("json-1")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();

    let (trace_id, span_id) = tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info!(answer = 42, "outside");
        let span = tracing::info_span!("handle", user.kind = "admin");
        let _entered = span.enter();
        tracing::warn!(retries = 3u64, ok = false, "inside");
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        (sc.trace_id().to_string(), sc.span_id().to_string())
    });

    let lines = logs.json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let outside = &lines[0];
    assert_eq!(outside["message"], "outside");
    assert_eq!(outside["level"], "INFO");
    assert_eq!(outside["fields"]["answer"], 42);
    assert_eq!(outside["service"], "json-svc");
    assert_eq!(outside["instance"], "json-1");
    assert!(outside.get("trace_id").is_none(), "no span, no trace id");
    assert!(outside["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(outside["target"], "json_logs");

    let inside = &lines[1];
    assert_eq!(inside["message"], "inside");
    assert_eq!(inside["level"], "WARN");
    assert_eq!(inside["fields"]["retries"], 3);
    assert_eq!(inside["fields"]["ok"], false);
    assert_eq!(inside["span"]["name"], "handle");
    assert_eq!(inside["span"]["user.kind"], "admin", "{inside}");
    assert_eq!(inside["trace_id"], trace_id.as_str());
    assert_eq!(inside["span_id"], span_id.as_str());
    assert_eq!(trace_id.len(), 32);
    assert_ne!(trace_id, "0".repeat(32));
}

#[test]
fn sdk_disabled_keeps_logs_without_ids() {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("off")
        .sdk_disabled(true)
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    assert!(telemetry.tracer_provider().is_none());
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info_span!("work").in_scope(|| tracing::info!("still logged"));
    });
    let lines = logs.json_lines();
    assert_eq!(lines[0]["message"], "still logged");
    assert!(lines[0].get("trace_id").is_none());
}

#[test]
fn log_filter_applies() {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("filtered")
        .log_filter("warn")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        tracing::info!("dropped");
        tracing::error!("kept");
    });
    let lines = logs.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "kept");
}

/// Fields of a job, written as `tracing` would write the span's own.
struct JobFields {
    id: &'static str,
}

impl obs_core::head_sampling::LogSpanFields for JobFields {
    fn name(&self) -> &'static str {
        "job"
    }

    fn write(&self, out: &mut obs_core::head_sampling::LogFieldWriter<'_>) {
        out.str("job.id", self.id);
    }
}

#[test]
fn a_span_opened_with_log_fields_is_written_from_them() {
    use obs_core::LogSpan;
    use obs_core::head_sampling::open_with_log_fields;

    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("lazy")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .log_filter("info")
        .build()
        .unwrap();
    assert!(telemetry.head_sampler().is_some());

    tracing::dispatcher::with_default(telemetry.dispatch(), || {
        // The values stand in for the span's fields: a line inside shows them, not the span's.
        let span = open_with_log_fields(
            LogSpan::new(JobFields {
                id: "kept \"as\" value",
            }),
            || tracing::info_span!("job", job.id = "formatted", status = tracing::field::Empty),
        );
        span.in_scope(|| tracing::info!("first"));
        // Recorded later: formatted as usual, after the kept ones.
        span.record("status", "done");
        span.in_scope(|| tracing::info!("second"));
        drop(span);

        // The next span on the thread is formatted as usual.
        tracing::info_span!("plain", job.id = "own").in_scope(|| tracing::info!("third"));

        // A span the log filter hides takes nothing, and leaves nothing for the next one.
        let hidden = open_with_log_fields(LogSpan::new(JobFields { id: "never" }), || {
            tracing::debug_span!("hidden", job.id = "hidden")
        });
        drop(hidden);
        tracing::info_span!("after", job.id = "after").in_scope(|| tracing::info!("fourth"));
    });

    let lines = logs.json_lines();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0]["span"]["name"], "job");
    assert_eq!(
        lines[0]["span"]["job.id"], "kept \"as\" value",
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[0]["span"].as_object().unwrap().len(),
        2,
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["span"]["job.id"], "kept \"as\" value");
    assert_eq!(lines[1]["span"]["status"], "done", "{}", lines[1]);
    assert_eq!(lines[2]["span"]["name"], "plain");
    assert_eq!(lines[2]["span"]["job.id"], "own", "{}", lines[2]);
    assert_eq!(lines[3]["span"]["job.id"], "after", "{}", lines[3]);
}
