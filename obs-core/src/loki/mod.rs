//! Pushes log lines to Grafana Loki (`/loki/api/v1/push`, snappy-compressed protobuf).
//!
//! The layer renders each event as the same JSON line stdout gets, trace ids included, and hands
//! it to a bounded queue without waiting. A task on the exporter runtime batches the queue and
//! pushes it. When the queue is full or Loki stays unreachable, lines are dropped and counted in
//! `obs_loki_dropped_lines_total`; the application never waits for Loki.
//!
//! The queue is bounded twice: [`LOKI_QUEUE_LINES`](crate::names::LOKI_QUEUE_LINES) lines and [`LOKI_QUEUE_BYTES`](crate::names::LOKI_QUEUE_BYTES) bytes, the
//! bytes counting every line from the moment it is queued until its push is over (delivered or
//! given up), so a few huge lines cannot hold more memory than many small ones. A line longer
//! than Loki's default limit, [`LOKI_MAX_LINE_BYTES`](crate::names::LOKI_MAX_LINE_BYTES), is cut and ends with
//! [`LOKI_CUT_MARKER`](crate::names::LOKI_CUT_MARKER); one push carries at most [`LOKI_MAX_BATCH_BYTES`](crate::names::LOKI_MAX_BATCH_BYTES).
//!
//! Stream labels are `service`, `instance` and `level` only: anything per request belongs in the
//! line, where LogQL's `| json` finds it, not in the index.
//!
//! The pusher (`push`) is behind the `loki` feature; the counters and the shutdown handle the
//! rest of obs-core holds are not, so that code needs no feature gates of its own.

#[cfg(feature = "loki")]
mod push;

use prometheus::IntCounter;
use tokio::sync::oneshot;

#[cfg(feature = "loki")]
pub(crate) use push::start;

/// Counters the pusher reports into.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(feature = "loki"),
    allow(dead_code, reason = "read by the pusher only")
)]
pub(crate) struct LokiCounters {
    pub(crate) sent: IntCounter,
    pub(crate) dropped: IntCounter,
}

/// Stops the pusher after it has flushed what is queued.
#[derive(Debug)]
#[cfg_attr(
    not(feature = "loki"),
    allow(dead_code, reason = "made by the pusher only")
)]
pub(crate) struct LokiShutdown {
    stop: Option<oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<()>,
}

impl LokiShutdown {
    /// The handle of a pusher that stops on `stop` and reports on `done` when it has flushed.
    #[cfg(feature = "loki")]
    pub(super) fn new(stop: oneshot::Sender<()>, done: std::sync::mpsc::Receiver<()>) -> Self {
        LokiShutdown {
            stop: Some(stop),
            done,
        }
    }

    /// Asks the pusher to flush and stop, and waits for it until `deadline`.
    /// Returns false when the pusher did not finish in time.
    pub(crate) fn finish(&mut self, deadline: std::time::Instant) -> bool {
        let Some(stop) = self.stop.take() else {
            return true;
        };
        if stop.send(()).is_err() {
            // The pusher is gone already (its runtime stopped).
            return true;
        }
        let wait = deadline.saturating_duration_since(std::time::Instant::now());
        self.done.recv_timeout(wait).is_ok()
    }
}
