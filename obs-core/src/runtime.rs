//! The background thread that runs exporters, so the application's runtime never does their I/O.
//!
//! Exporters run on a dedicated single-threaded Tokio runtime. That keeps exporting working when
//! the application uses a current-thread runtime (or none at all), keeps a slow collector from
//! stealing the application's worker threads, and lets telemetry ignore the events that the
//! exporters' own HTTP stacks emit: anything logged on this thread is not exported again.

use std::cell::Cell;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::Error;

thread_local! {
    static ON_EXPORTER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the exporter thread: events emitted there come from the exporters themselves and
/// must not be fed back into them.
pub(crate) fn on_exporter_thread() -> bool {
    ON_EXPORTER_THREAD.with(Cell::get)
}

/// A single-threaded Tokio runtime on its own thread, stopped when dropped.
#[derive(Debug)]
pub(crate) struct ExporterRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    stopped: mpsc::Receiver<()>,
}

impl ExporterRuntime {
    pub(crate) fn start() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("obs-telemetry")
            .build()
            .map_err(Error::Runtime)?;
        let handle = runtime.handle().clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        thread::Builder::new()
            .name("obs-telemetry".into())
            .spawn(move || {
                ON_EXPORTER_THREAD.with(|flag| flag.set(true));
                runtime.block_on(async {
                    // Either an explicit stop or the handle being dropped ends the loop.
                    let _ = stop_rx.await;
                });
                // Whatever is still in flight was given its chance by the shutdown sequence.
                runtime.shutdown_timeout(Duration::from_millis(100));
                let _ = stopped_tx.send(());
            })
            .map_err(Error::Runtime)?;
        Ok(ExporterRuntime {
            handle,
            stop: Some(stop_tx),
            stopped: stopped_rx,
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime, waiting for its thread until `deadline` at most.
    pub(crate) fn stop(&mut self, deadline: Instant) -> bool {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        self.stopped.recv_timeout(wait).is_ok()
    }
}

impl Drop for ExporterRuntime {
    fn drop(&mut self) {
        self.stop(Instant::now() + Duration::from_millis(500));
    }
}

/// A per-layer filter that hides everything emitted on the exporter thread.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NotOnExporterThread;

impl<S> tracing_subscriber::layer::Filter<S> for NotOnExporterThread {
    fn enabled(
        &self,
        _meta: &tracing::Metadata<'_>,
        _cx: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !on_exporter_thread()
    }

    fn callsite_enabled(
        &self,
        _meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The answer depends on the thread, so it cannot be cached per callsite.
        tracing::subscriber::Interest::sometimes()
    }
}
