//! The `console` span exporter (`OTEL_TRACES_EXPORTER=console`): one JSON line per finished
//! span, written where the log lines go, for development without a collector.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use opentelemetry::trace::Status;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use serde_json::{Map, Value};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The log writer, shared by the log layer and the console exporter.
#[derive(Clone)]
pub(crate) struct SharedWriter(pub(crate) Arc<BoxMakeWriter>);

impl<'a> MakeWriter<'a> for SharedWriter {
    type Writer = <BoxMakeWriter as MakeWriter<'a>>::Writer;

    fn make_writer(&'a self) -> Self::Writer {
        self.0.make_writer()
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        self.0.make_writer_for(meta)
    }
}

/// Writes each span as a JSON object on its own line.
pub(crate) struct ConsoleExporter {
    writer: SharedWriter,
}

impl ConsoleExporter {
    pub(crate) fn new(writer: SharedWriter) -> Self {
        ConsoleExporter { writer }
    }
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter").finish_non_exhaustive()
    }
}

impl SpanExporter for ConsoleExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut out = String::new();
        for span in &batch {
            out.push_str(&render(span).to_string());
            out.push('\n');
        }
        // A console that cannot be written to loses the spans, like a collector that is down.
        let _ = self.writer.make_writer().write_all(out.as_bytes());
        Ok(())
    }
}

fn render(span: &SpanData) -> Value {
    let nanos = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            .to_string()
    };
    let mut attributes = Map::new();
    for kv in &span.attributes {
        attributes.insert(kv.key.to_string(), Value::String(kv.value.to_string()));
    }
    let status = match &span.status {
        Status::Unset => "unset".to_owned(),
        Status::Ok => "ok".to_owned(),
        Status::Error { description } => format!("error: {description}"),
    };
    serde_json::json!({
        "span": span.name,
        "trace_id": span.span_context.trace_id().to_string(),
        "span_id": span.span_context.span_id().to_string(),
        "parent_span_id": span.parent_span_id.to_string(),
        "kind": format!("{:?}", span.span_kind).to_ascii_lowercase(),
        "start_time_unix_nano": nanos(span.start_time),
        "end_time_unix_nano": nanos(span.end_time),
        "status": status,
        "attributes": attributes,
    })
}
