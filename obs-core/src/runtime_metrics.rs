//! Tokio runtime health: gauges read from tokio's `RuntimeMetrics` at scrape time, and a probe
//! task whose timer lateness is the runtime's scheduling delay.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Histogram, HistogramOpts, IntGauge, Registry};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::names::*;
use crate::{Error, Metrics};

/// How often the scheduling-delay probe wakes up by default: 50 ms, so a worker blocked for
/// 50 ms or more is seen at least once.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// The shortest probe interval accepted; shorter ones are raised to it (tokio's timer
/// resolution).
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// The health of one tokio runtime in a [`Metrics`] registry: created by
/// [`Metrics::runtime`] or [`RuntimeMetrics::builder`].
///
/// | name | type | labels | source |
/// |---|---|---|---|
/// | `tokio_runtime_workers` | gauge | — | `RuntimeMetrics::num_workers`, read at scrape |
/// | `tokio_runtime_alive_tasks` | gauge | — | `num_alive_tasks`, read at scrape |
/// | `tokio_runtime_global_queue_depth` | gauge | — | `global_queue_depth`, read at scrape |
/// | `tokio_runtime_busy_seconds_total` | counter | — | `worker_total_busy_duration` summed over workers (64-bit atomics) |
/// | `tokio_runtime_scheduling_delay_seconds` | histogram (0.001 … 10) | — | the probe task |
///
/// With `RUSTFLAGS="--cfg tokio_unstable"` also `tokio_runtime_worker_local_queue_depth`
/// (gauge, label `worker`), `tokio_runtime_blocking_threads`,
/// `tokio_runtime_blocking_queue_depth` (gauges), `tokio_runtime_spawned_tasks_total` and
/// `tokio_runtime_budget_forced_yield_total` (counters).
///
/// # The scheduling-delay probe
///
/// A task on the runtime sleeps for the probe interval ([`DEFAULT_PROBE_INTERVAL`]) and, when
/// it runs again, observes how long after its deadline that was. On a healthy runtime the
/// delay is below a millisecond; a handler that blocks a worker (CPU work or blocking I/O
/// outside `spawn_blocking`) while every other worker is busy shows up as the length of the
/// block. It is the event-loop lag of Node, on stable tokio. The probe runs until the runtime
/// shuts down or [`RuntimeMetrics::stop_probe`] is called, and needs the runtime's timer
/// (`enable_all()` or `enable_time()`, which `#[tokio::main]` enables).
///
/// Busy ratio: `rate(tokio_runtime_busy_seconds_total[1m]) / tokio_runtime_workers`.
#[derive(Clone)]
pub struct RuntimeMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    scheduling_delay: Histogram,
    probe: AbortHandle,
}

impl RuntimeMetrics {
    /// Options for measuring the runtime of `handle`; [`Metrics::runtime`] is the short form.
    pub fn builder(handle: &Handle) -> RuntimeMetricsBuilder {
        RuntimeMetricsBuilder {
            handle: handle.clone(),
            probe_interval: DEFAULT_PROBE_INTERVAL,
        }
    }

    /// The `tokio_runtime_scheduling_delay_seconds` histogram the probe records into.
    pub fn scheduling_delay(&self) -> &Histogram {
        &self.inner.scheduling_delay
    }

    /// Stops the probe task; the gauges keep being read at scrape time.
    pub fn stop_probe(&self) {
        self.inner.probe.abort();
    }
}

impl fmt::Debug for RuntimeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeMetrics")
            .field("probe_finished", &self.inner.probe.is_finished())
            .finish_non_exhaustive()
    }
}

/// Builds [`RuntimeMetrics`]; from [`RuntimeMetrics::builder`].
#[derive(Debug)]
#[must_use]
pub struct RuntimeMetricsBuilder {
    handle: Handle,
    probe_interval: Duration,
}

impl RuntimeMetricsBuilder {
    /// How long the probe sleeps between measurements. A block shorter than the interval is
    /// seen only when a deadline falls inside it. Raised to [`MIN_PROBE_INTERVAL`] if shorter.
    /// Defaults to [`DEFAULT_PROBE_INTERVAL`] (50 ms).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval.max(MIN_PROBE_INTERVAL);
        self
    }

    /// Registers the runtime collector and the scheduling-delay histogram in `metrics` and
    /// spawns the probe on the runtime.
    ///
    /// One runtime per registry: when `metrics` already measures a runtime, that one is
    /// returned and nothing new is registered or spawned.
    ///
    /// # Errors
    /// When the registry already holds a metric of one of these names that obs did not create.
    pub fn register(self, metrics: &Metrics) -> Result<RuntimeMetrics, Error> {
        metrics.runtime_slot(|registry| self.register_in(registry))
    }

    fn register_in(self, registry: &Registry) -> Result<RuntimeMetrics, Error> {
        let scheduling_delay = Histogram::with_opts(
            HistogramOpts::new(
                TOKIO_RUNTIME_SCHEDULING_DELAY,
                "How late a ready task of the Tokio runtime is polled: the lateness of a probe timer.",
            )
            .buckets(SCHEDULING_DELAY_BUCKETS.to_vec()),
        )?;
        let collector = RuntimeCollector::new(self.handle.clone())?;
        registry.register(Box::new(collector))?;
        registry.register(Box::new(scheduling_delay.clone()))?;
        let probe = self
            .handle
            .spawn(probe(scheduling_delay.clone(), self.probe_interval))
            .abort_handle();
        Ok(RuntimeMetrics {
            inner: Arc::new(Inner {
                scheduling_delay,
                probe,
            }),
        })
    }
}

/// Sleeps `interval`, observes how late it woke, forever.
async fn probe(histogram: Histogram, interval: Duration) {
    loop {
        let deadline = tokio::time::Instant::now() + interval;
        tokio::time::sleep_until(deadline).await;
        let late = tokio::time::Instant::now().saturating_duration_since(deadline);
        histogram.observe(late.as_secs_f64());
    }
}

/// Reads tokio's runtime metrics when the registry is gathered.
struct RuntimeCollector {
    handle: Handle,
    workers: IntGauge,
    alive_tasks: IntGauge,
    global_queue_depth: IntGauge,
    #[cfg(target_has_atomic = "64")]
    busy: prometheus::Counter,
    #[cfg(tokio_unstable)]
    unstable: unstable::Unstable,
    /// Serialises collections, so counters advanced to tokio's totals never overshoot.
    lock: Mutex<()>,
}

impl RuntimeCollector {
    fn new(handle: Handle) -> Result<Self, Error> {
        Ok(RuntimeCollector {
            handle,
            workers: IntGauge::new(
                TOKIO_RUNTIME_WORKERS,
                "Worker threads of the Tokio runtime.",
            )?,
            alive_tasks: IntGauge::new(
                TOKIO_RUNTIME_ALIVE_TASKS,
                "Tasks spawned on the Tokio runtime that have not finished.",
            )?,
            global_queue_depth: IntGauge::new(
                TOKIO_RUNTIME_GLOBAL_QUEUE_DEPTH,
                "Tasks waiting in the Tokio runtime's global queue.",
            )?,
            #[cfg(target_has_atomic = "64")]
            busy: prometheus::Counter::new(
                TOKIO_RUNTIME_BUSY_DURATION,
                "Time the Tokio runtime's workers spent busy, summed over workers.",
            )?,
            #[cfg(tokio_unstable)]
            unstable: unstable::Unstable::new()?,
            lock: Mutex::new(()),
        })
    }
}

impl Collector for RuntimeCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = Vec::new();
        descs.extend(self.workers.desc());
        descs.extend(self.alive_tasks.desc());
        descs.extend(self.global_queue_depth.desc());
        #[cfg(target_has_atomic = "64")]
        descs.extend(self.busy.desc());
        #[cfg(tokio_unstable)]
        descs.extend(self.unstable.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _serial = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let m = self.handle.metrics();
        let workers = m.num_workers();
        self.workers.set(gauge_value(workers));
        self.alive_tasks.set(gauge_value(m.num_alive_tasks()));
        self.global_queue_depth
            .set(gauge_value(m.global_queue_depth()));
        let mut families = Vec::new();
        families.extend(self.workers.collect());
        families.extend(self.alive_tasks.collect());
        families.extend(self.global_queue_depth.collect());
        #[cfg(target_has_atomic = "64")]
        {
            let busy: f64 = (0..workers)
                .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
                .sum();
            advance_to(&self.busy, busy);
            families.extend(self.busy.collect());
        }
        #[cfg(tokio_unstable)]
        families.extend(self.unstable.collect(&m));
        families
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Raises `counter` to `total` (tokio's monotonic total); never lowers it.
#[cfg(target_has_atomic = "64")]
fn advance_to(counter: &prometheus::Counter, total: f64) {
    let delta = total - counter.get();
    if delta > 0.0 {
        counter.inc_by(delta);
    }
}

#[cfg(tokio_unstable)]
mod unstable {
    //! What tokio offers only under `--cfg tokio_unstable`.

    use prometheus::core::{Collector, Desc};
    use prometheus::proto::MetricFamily;
    use prometheus::{IntGauge, IntGaugeVec, Opts};
    use tokio::runtime::RuntimeMetrics;

    use super::gauge_value;
    use crate::Error;
    use crate::names::*;

    pub(super) struct Unstable {
        local_queue_depth: IntGaugeVec,
        blocking_threads: IntGauge,
        blocking_queue_depth: IntGauge,
        #[cfg(target_has_atomic = "64")]
        spawned_tasks: prometheus::IntCounter,
        #[cfg(target_has_atomic = "64")]
        forced_yields: prometheus::IntCounter,
    }

    impl Unstable {
        pub(super) fn new() -> Result<Self, Error> {
            Ok(Unstable {
                local_queue_depth: IntGaugeVec::new(
                    Opts::new(
                        TOKIO_RUNTIME_WORKER_LOCAL_QUEUE_DEPTH,
                        "Tasks in a Tokio worker's local queue.",
                    ),
                    &[TOKIO_WORKER],
                )?,
                blocking_threads: IntGauge::new(
                    TOKIO_RUNTIME_BLOCKING_THREADS,
                    "Threads of the Tokio blocking pool.",
                )?,
                blocking_queue_depth: IntGauge::new(
                    TOKIO_RUNTIME_BLOCKING_QUEUE_DEPTH,
                    "Tasks waiting for a Tokio blocking-pool thread.",
                )?,
                #[cfg(target_has_atomic = "64")]
                spawned_tasks: prometheus::IntCounter::new(
                    TOKIO_RUNTIME_SPAWNED_TASKS,
                    "Tasks spawned on the Tokio runtime.",
                )?,
                #[cfg(target_has_atomic = "64")]
                forced_yields: prometheus::IntCounter::new(
                    TOKIO_RUNTIME_BUDGET_FORCED_YIELDS,
                    "Times a Tokio task was forced to yield after using up its budget.",
                )?,
            })
        }

        pub(super) fn desc(&self) -> Vec<&Desc> {
            let mut descs = Vec::new();
            descs.extend(self.local_queue_depth.desc());
            descs.extend(self.blocking_threads.desc());
            descs.extend(self.blocking_queue_depth.desc());
            #[cfg(target_has_atomic = "64")]
            {
                descs.extend(self.spawned_tasks.desc());
                descs.extend(self.forced_yields.desc());
            }
            descs
        }

        pub(super) fn collect(&self, m: &RuntimeMetrics) -> Vec<MetricFamily> {
            for worker in 0..m.num_workers() {
                let label = worker.to_string();
                self.local_queue_depth
                    .with_label_values(&[label.as_str()])
                    .set(gauge_value(m.worker_local_queue_depth(worker)));
            }
            self.blocking_threads
                .set(gauge_value(m.num_blocking_threads()));
            self.blocking_queue_depth
                .set(gauge_value(m.blocking_queue_depth()));
            let mut families = Vec::new();
            families.extend(self.local_queue_depth.collect());
            families.extend(self.blocking_threads.collect());
            families.extend(self.blocking_queue_depth.collect());
            #[cfg(target_has_atomic = "64")]
            {
                advance_int(&self.spawned_tasks, m.spawned_tasks_count());
                advance_int(&self.forced_yields, m.budget_forced_yield_count());
                families.extend(self.spawned_tasks.collect());
                families.extend(self.forced_yields.collect());
            }
            families
        }
    }

    #[cfg(target_has_atomic = "64")]
    fn advance_int(counter: &prometheus::IntCounter, total: u64) {
        let delta = total.saturating_sub(counter.get());
        if delta > 0 {
            counter.inc_by(delta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of an unlabelled sample in a text exposition.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines().find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            (series == name).then(|| value.parse().unwrap())
        })
    }

    #[test]
    fn gauges_are_read_from_the_runtime_at_scrape_time() {
        // Not running yet: tasks spawned from outside wait in the global queue.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = Metrics::new();
        let runtime = metrics.runtime(rt.handle()).unwrap();
        for _ in 0..3 {
            rt.spawn(async {});
        }
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, "tokio_runtime_workers"), Some(1.0));
        // The probe and the three tasks.
        assert_eq!(sample(&text, "tokio_runtime_alive_tasks"), Some(4.0));
        assert_eq!(sample(&text, "tokio_runtime_global_queue_depth"), Some(4.0));

        // Running the runtime drains the queue and finishes the three; the probe lives on.
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(20)).await });
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, "tokio_runtime_alive_tasks"), Some(1.0));
        assert_eq!(sample(&text, "tokio_runtime_global_queue_depth"), Some(0.0));
        #[cfg(target_has_atomic = "64")]
        assert!(sample(&text, "tokio_runtime_busy_seconds_total").unwrap() > 0.0);

        // A second call measures the same runtime: nothing registered twice.
        let again = metrics.runtime(rt.handle()).unwrap();
        assert!(Arc::ptr_eq(&again.inner, &runtime.inner));
        runtime.stop_probe();
        rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, "tokio_runtime_alive_tasks"), Some(0.0));
    }

    #[test]
    fn multi_thread_workers_are_counted() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        let metrics = Metrics::new();
        let _runtime = RuntimeMetrics::builder(rt.handle())
            .probe_interval(Duration::ZERO)
            .register(&metrics)
            .unwrap();
        let text = metrics.encode().unwrap();
        assert_eq!(sample(&text, "tokio_runtime_workers"), Some(3.0));
    }

    #[test]
    fn a_blocked_runtime_is_seen_by_the_probe() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let metrics = Metrics::new();
        let runtime = RuntimeMetrics::builder(rt.handle())
            .probe_interval(Duration::from_millis(5))
            .register(&metrics)
            .unwrap();
        rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Blocks the only thread: the probe's timer fires late.
            std::thread::sleep(Duration::from_millis(120));
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        let delay = runtime.scheduling_delay();
        assert!(
            delay.get_sample_count() >= 2,
            "{}",
            delay.get_sample_count()
        );
        assert!(
            delay.get_sample_sum() >= 0.110,
            "{}",
            delay.get_sample_sum()
        );
    }
}
