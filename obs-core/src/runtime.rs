//! The background thread that runs exporters, so the application's runtime never does their I/O.
//!
//! Exporters run on a dedicated single-threaded Tokio runtime. That keeps exporting working when
//! the application uses a current-thread runtime (or none at all), keeps a slow collector from
//! stealing the application's worker threads, and lets telemetry ignore the events that the
//! exporters' own HTTP stacks emit: anything logged on this thread is not exported again.
//!
//! [`Exporters`] starts that runtime when an exporter first needs it and runs the background
//! exporters of other obs crates on it (the RUM receiver's span forwarder), so that the
//! [`Telemetry`](crate::Telemetry) guard flushes them with its own.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use crate::Error;

thread_local! {
    static ON_EXPORTER_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on the exporter thread: events emitted there come from the exporters themselves and
/// must not be fed back into them. The thread logs through a dispatch of its own
/// ([`Exporters::set_thread_dispatch`]); the Loki layer checks this as well, for a runtime that
/// started without one.
#[cfg_attr(
    not(feature = "loki"),
    allow(dead_code, reason = "read by the Loki layer")
)]
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
    /// Starts the runtime's thread, with `dispatch` as its default subscriber when given.
    pub(crate) fn start(dispatch: Option<tracing::Dispatch>) -> Result<Self, Error> {
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
                // Set before the runtime runs anything, so no exporter's span or event reaches
                // the application's dispatch.
                let _default = dispatch.as_ref().map(tracing::dispatcher::set_default);
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
        // Without waiting: whoever wanted the exporters flushed called `stop` with a deadline.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The exporter runtime, started on first use, and the background exporters running on it.
///
/// Plumbing between obs crates, not for applications: [`Telemetry::exporters`] hands it to
/// instrumentation that exports in the background (the RUM receiver's span forwarder), which
/// [`spawn`](Self::spawn)s its exporter here. The guard's shutdown, or its drop, then tells
/// every exporter to send what it holds and waits for them within the shutdown timeout, before
/// it stops the runtime. Clones share one runtime.
///
/// [`Telemetry::exporters`]: crate::Telemetry::exporters
#[doc(hidden)]
#[derive(Clone, Default)]
pub struct Exporters {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    runtime: Option<ExporterRuntime>,
    /// Set to `true`, or dropped, when shutdown begins; every exporter holds a receiver.
    shutdown: Option<watch::Sender<bool>>,
    /// One per spawned exporter: closed when it has returned.
    running: Vec<mpsc::Receiver<()>>,
    stopped: bool,
    /// The exporter thread's default subscriber (see [`Exporters::set_thread_dispatch`]).
    thread_dispatch: Option<tracing::Dispatch>,
}

impl fmt::Debug for Exporters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Exporters")
            .field("started", &state.runtime.is_some())
            .field("exporters", &state.running.len())
            .field("stopped", &state.stopped)
            .finish()
    }
}

impl Exporters {
    /// Exporters of their own, not flushed by any guard: the runtime starts with the first
    /// exporter and stops, without flushing, when the last clone is dropped.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The subscriber the exporter thread logs through instead of the application's: the
    /// telemetry's log lines without its OpenTelemetry and Loki layers, so that nothing the
    /// exporters do is exported again. Set by the telemetry before it builds any exporter; a
    /// runtime already running takes it as soon as it gets to it.
    pub(crate) fn set_thread_dispatch(&self, dispatch: tracing::Dispatch) {
        let mut state = self.lock();
        if let Some(runtime) = &state.runtime {
            let late = dispatch.clone();
            runtime.handle().spawn(async move {
                // The thread's default for the rest of its life: the guard is never dropped.
                std::mem::forget(tracing::dispatcher::set_default(&late));
            });
        }
        state.thread_dispatch = Some(dispatch);
    }

    /// The runtime's handle, starting the runtime if it is not running yet.
    #[cfg_attr(
        not(any(feature = "otlp-grpc", feature = "otlp-http", feature = "loki")),
        allow(dead_code, reason = "used by the exporters behind features")
    )]
    pub(crate) fn handle(&self) -> Result<Handle, Error> {
        let mut state = self.lock();
        Self::handle_of(&mut state)
    }

    fn handle_of(state: &mut State) -> Result<Handle, Error> {
        if state.stopped {
            return Err(Error::AlreadyShutDown);
        }
        if let Some(runtime) = &state.runtime {
            return Ok(runtime.handle().clone());
        }
        let runtime = ExporterRuntime::start(state.thread_dispatch.clone())?;
        let handle = runtime.handle().clone();
        state.runtime = Some(runtime);
        Ok(handle)
    }

    /// Runs the exporter that `exporter` makes on the exporter runtime. It gets a
    /// [`ShutdownSignal`]: once that fires, it must send what it holds, accept nothing more
    /// and return; shutdown waits for it until its deadline.
    ///
    /// # Errors
    /// The runtime cannot be started, or the telemetry was shut down already.
    pub fn spawn<F, Fut>(&self, exporter: F) -> Result<(), Error>
    where
        F: FnOnce(ShutdownSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut state = self.lock();
        let handle = Self::handle_of(&mut state)?;
        let signal = state
            .shutdown
            .get_or_insert_with(|| watch::channel(false).0)
            .subscribe();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let future = exporter(ShutdownSignal(signal));
        handle.spawn(async move {
            future.await;
            drop(done_tx);
        });
        state
            .running
            .retain(|done| matches!(done.try_recv(), Err(mpsc::TryRecvError::Empty)));
        state.running.push(done_rx);
        Ok(())
    }

    /// Tells every exporter to flush and stop; does not wait.
    pub(crate) fn begin_shutdown(&self) {
        if let Some(shutdown) = &self.lock().shutdown {
            let _ = shutdown.send(true);
        }
    }

    /// Tells every exporter to flush and stop, waits for them until `deadline`, then stops the
    /// runtime. False when an exporter or the runtime did not finish in time.
    pub(crate) fn shutdown(&self, deadline: Instant) -> bool {
        self.begin_shutdown();
        let (running, runtime) = {
            let mut state = self.lock();
            state.stopped = true;
            (std::mem::take(&mut state.running), state.runtime.take())
        };
        let mut finished = true;
        for done in running {
            let wait = deadline.saturating_duration_since(Instant::now());
            // Closed (not timed out) once the exporter returned, or its task was dropped.
            if let Err(mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(wait) {
                finished = false;
            }
        }
        if let Some(mut runtime) = runtime {
            runtime.stop(deadline);
        }
        finished
    }
}

/// Fires when the [`Exporters`] an exporter runs on shut down, or are dropped.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Completes once shutdown has begun.
    pub async fn requested(&mut self) {
        // An error means the sender is gone: the exporters were dropped, which is shutdown too.
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}
