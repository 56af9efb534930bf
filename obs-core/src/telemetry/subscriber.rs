//! Subscriber assembly: the `tracing` layers (stdout, OpenTelemetry, Loki), each with its own
//! filter, and the span exporters behind them, built from resolved settings.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::Dispatch;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{Layer, Registry};

use super::settings::{Settings, env_filter};
use crate::config::{LogFormat, TracesExporter};
use crate::console::{ConsoleExporter, SharedWriter};
use crate::log_format::{JsonFieldList, JsonFormat, LogIdentity};
use crate::loki::{self, LokiShutdown};
use crate::otlp;
use crate::runtime::{Exporters, NotOnExporterThread};
use crate::{Error, Metrics};

pub(super) type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// The assembled subscriber and the parts of it the guard shuts down.
pub(super) struct Subscriber {
    pub(super) dispatch: Dispatch,
    pub(super) tracer_provider: Option<SdkTracerProvider>,
    pub(super) loki: Option<LokiShutdown>,
}

/// Builds the layers `settings` ask for: log lines to `writer`, spans to the configured
/// exporter, log lines to Loki. The OTLP exporter and the Loki pusher run on `exporters`,
/// which start their runtime for them. The application's own `extra` layers come last.
pub(super) fn assemble(
    settings: &Settings,
    writer: SharedWriter,
    metrics: &Metrics,
    exporters: &Exporters,
    extra: Vec<BoxedLayer>,
) -> Result<Subscriber, Error> {
    let identity = LogIdentity {
        service: settings.build_info.service_name.clone(),
        instance: settings.build_info.service_instance_id.clone(),
        dispatch: Arc::new(OnceLock::new()),
    };

    let dispatch_slot = Arc::clone(&identity.dispatch);
    let mut layers: Vec<BoxedLayer> = Vec::with_capacity(3);
    layers.push(match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFieldList)
            .event_format(JsonFormat {
                identity: identity.clone(),
            })
            .with_writer(writer.clone())
            .with_filter(env_filter(&settings.log_filter))
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer.clone())
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter(env_filter(&settings.log_filter))
            .boxed(),
    });

    let tracer_provider = if settings.sdk_disabled {
        None
    } else {
        let mut provider = SdkTracerProvider::builder()
            .with_sampler(settings.sampler.to_sdk())
            .with_resource(settings.resource.clone());
        let export = &settings.export;
        let batch = || {
            BatchConfigBuilder::default()
                .with_max_queue_size(export.queue_size)
                .with_max_export_batch_size(export.batch_size)
                .with_scheduled_delay(export.schedule_delay)
                .build()
        };
        match (export.exporter, &settings.otlp) {
            (TracesExporter::Otlp, Some((endpoint, protocol))) => {
                let handle = exporters.handle()?;
                let exporter = otlp::build_exporter(endpoint, *protocol, export, &handle)?;
                provider = provider.with_span_processor(
                    BatchSpanProcessor::builder(exporter)
                        .with_batch_config(batch())
                        .build(),
                );
            }
            (TracesExporter::Console, _) => {
                provider = provider.with_span_processor(
                    BatchSpanProcessor::builder(ConsoleExporter::new(writer.clone()))
                        .with_batch_config(batch())
                        .build(),
                );
            }
            _ => {}
        }
        let provider = provider.build();
        let tracer = provider.tracer("obs");
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_filter(NotOnExporterThread.and(env_filter(&settings.trace_filter)))
                .boxed(),
        );
        Some(provider)
    };

    let loki = match &settings.loki_url {
        Some(url) => {
            let counters = metrics.loki_counters()?;
            let (layer, shutdown) = loki::start(url, identity, counters, &exporters.handle()?)?;
            layers.push(layer.with_filter(env_filter(&settings.log_filter)).boxed());
            Some(shutdown)
        }
        None => None,
    };

    layers.extend(extra);
    // Logs and traces filter separately: each layer carries its own filter.
    let subscriber = Registry::default().with(layers);
    let dispatch = Dispatch::new(subscriber);
    let _ = dispatch_slot.set(dispatch.downgrade());
    Ok(Subscriber {
        dispatch,
        tracer_provider,
        loki,
    })
}
