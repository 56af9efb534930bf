//! Subscriber assembly: the `tracing` layers (stdout, OpenTelemetry, Loki), each with its own
//! filter, and the span exporters behind them, built from resolved settings.

use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use tracing::{Dispatch, Subscriber as TracingSubscriber};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::settings::{Settings, env_filter};
use crate::config::{LogFormat, TracesExporter};
use crate::console::{ConsoleExporter, SharedWriter};
use crate::head_sampling::{HeadSampler, PresetIds};
use crate::log_format::{JsonFieldList, JsonFormat, LazyFieldsLayer, LogIdentity};
#[cfg(feature = "loki")]
use crate::loki;
use crate::loki::LokiShutdown;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
use crate::otlp;
use crate::runtime::Exporters;
use crate::{Error, Metrics};

/// A layer given by the application ([`TelemetryBuilder::with_layer`](super::TelemetryBuilder::with_layer)).
pub(super) type BoxedLayer = BoxedLayerOver<Registry>;
type BoxedLayerOver<S> = Box<dyn Layer<S> + Send + Sync>;

/// The layers of a subscriber and the parts of them the guard shuts down.
type Layers<S> = (
    Vec<BoxedLayerOver<S>>,
    Option<SdkTracerProvider>,
    Option<LokiShutdown>,
);

/// The assembled subscriber and the parts of it the guard shuts down.
pub(super) struct Subscriber {
    pub(super) dispatch: Dispatch,
    pub(super) tracer_provider: Option<SdkTracerProvider>,
    pub(super) loki: Option<LokiShutdown>,
    /// Set when skipping the span of an unsampled request changes nothing but the cost.
    pub(super) head_sampler: Option<HeadSampler>,
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

    // Set before any exporter is built: the exporter thread takes it when it starts.
    exporters.set_thread_dispatch(exporter_thread_dispatch(settings, &writer, &identity));
    let dispatch_slot = Arc::clone(&identity.dispatch);
    // Logs and traces filter separately, each layer with its own filter, unless their
    // directives are the same (the default) and the application added no layers: then one
    // filter in front of every layer decides, and a span costs one decision and one filter
    // lookup per callback instead of one per layer. What is enabled is the same either way.
    // The application's layers see everything but through their own filters, so with them
    // obs's layers keep theirs.
    let one_filter = settings.log_filter == settings.trace_filter && extra.is_empty();
    let (dispatch, tracer_provider, loki) = if one_filter {
        let (layers, tracer_provider, loki) =
            layers(settings, writer, metrics, exporters, identity, None)?;
        let subscriber = Registry::default()
            .with(env_filter(&settings.log_filter))
            .with(layers);
        (Dispatch::new(subscriber), tracer_provider, loki)
    } else {
        let (mut layers, tracer_provider, loki) = layers(
            settings,
            writer,
            metrics,
            exporters,
            identity,
            Some(env_filter),
        )?;
        layers.extend(extra);
        (
            Dispatch::new(Registry::default().with(layers)),
            tracer_provider,
            loki,
        )
    };
    let _ = dispatch_slot.set(dispatch.downgrade());
    // Without a span, a dropped request is still what the OpenTelemetry layer would have made
    // of it only when that layer sees the spans the log layer sees (one filter), nobody else
    // sees spans (no application layers), and the log line can show the span without it
    // (the JSON format reads the context; the pretty format would lose the span's prefix).
    let head_sampler =
        (tracer_provider.is_some() && one_filter && settings.log_format == LogFormat::Json)
            .then(|| HeadSampler::new(settings.sampler));
    Ok(Subscriber {
        dispatch,
        tracer_provider,
        loki,
        head_sampler,
    })
}

/// The stdout, OpenTelemetry and Loki layers over `S`, each behind its own filter made by
/// `per_layer`, or unfiltered (but for the exporter threads) when `per_layer` is `None`.
fn layers<S>(
    settings: &Settings,
    writer: SharedWriter,
    metrics: &Metrics,
    exporters: &Exporters,
    identity: LogIdentity,
    per_layer: Option<fn(&str) -> EnvFilter>,
) -> Result<Layers<S>, Error>
where
    S: TracingSubscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    // Only the exporters behind features use the registry and the exporter runtime.
    #[cfg(not(feature = "loki"))]
    let _ = metrics;
    #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http", feature = "loki")))]
    let _ = exporters;
    let filtered = |layer: BoxedLayerOver<S>, directives: &str| -> BoxedLayerOver<S> {
        match per_layer {
            Some(filter) => layer.with_filter(filter(directives)).boxed(),
            None => layer,
        }
    };
    let mut layers: Vec<BoxedLayerOver<S>> = Vec::with_capacity(3);
    let stdout = stdout_layer(settings, &writer, identity.clone());
    layers.push(filtered(stdout, &settings.log_filter));

    let tracer_provider = if settings.sdk_disabled {
        None
    } else {
        let mut provider = SdkTracerProvider::builder()
            .with_sampler(settings.sampler.to_sdk())
            // Random ids, but a span started by `head_sampling::start_sampled` takes the trace
            // id its decision was made on.
            .with_id_generator(PresetIds::default())
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
            #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
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
        let layer = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_threads(false);
        // Nothing the exporters do reaches this layer: their thread logs through a dispatch of
        // its own (see `exporter_thread_dispatch`).
        layers.push(filtered(layer.boxed(), &settings.trace_filter));
        Some(provider)
    };

    let loki = match &settings.loki_url {
        #[cfg(feature = "loki")]
        Some(url) => {
            let counters = metrics.loki_counters()?;
            let (layer, shutdown) = loki::start(url, identity, counters, &exporters.handle()?)?;
            layers.push(filtered(layer.boxed(), &settings.log_filter));
            Some(shutdown)
        }
        // Settings resolution refuses a Loki URL when the pusher is not compiled in.
        #[cfg(not(feature = "loki"))]
        Some(_) => None,
        None => None,
    };

    Ok((layers, tracer_provider, loki))
}

/// The log lines to `writer`, JSON or pretty as `settings` say.
fn stdout_layer<S>(
    settings: &Settings,
    writer: &SharedWriter,
    identity: LogIdentity,
) -> BoxedLayerOver<S>
where
    S: TracingSubscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
{
    match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFieldList)
            .event_format(JsonFormat { identity })
            .with_writer(writer.clone())
            .and_then(LazyFieldsLayer)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_writer(writer.clone())
            .with_ansi(std::io::stdout().is_terminal())
            .boxed(),
    }
}

/// The dispatch of the exporter thread: its log lines to `writer` as the application's are
/// written, and nothing else. What the exporters do (the HTTP client's spans and events, their
/// warnings) must not be fed back into the exporters, and a filter in the application's
/// dispatch that asked which thread it runs on could not be answered once per callsite: every
/// span and event of the application would pay a dynamic `enabled` call through the whole
/// subscriber. The lines carry no trace ids: nothing there is traced.
fn exporter_thread_dispatch(
    settings: &Settings,
    writer: &SharedWriter,
    identity: &LogIdentity,
) -> Dispatch {
    let identity = LogIdentity {
        dispatch: Arc::new(OnceLock::new()),
        ..identity.clone()
    };
    Dispatch::new(
        Registry::default()
            .with(env_filter(&settings.log_filter))
            .with(stdout_layer(settings, writer, identity)),
    )
}
