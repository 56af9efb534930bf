//! What the virtual users measured: every request's latency and outcome by endpoint, a window
//! for the live progress line and the stress watchdog, and the Prometheus exposition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The endpoints of a virtual user, in the order of its loop.
pub const ENDPOINTS: [&str; 7] = [
    "signup", "login", "me", "list", "create", "complete", "delete",
];

/// Upper bounds of `loadtest_request_duration_seconds`.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One endpoint's requests.
#[derive(Debug, Default, Clone)]
pub struct EndpointSamples {
    /// Latencies in microseconds, in arrival order.
    pub latencies_us: Vec<u64>,
    /// Requests by HTTP status; 0 is a transport error (no response).
    pub statuses: BTreeMap<u16, u64>,
    /// Requests with a transport error or a status of 400 or more.
    pub errors: u64,
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
}

/// Requests since the last [`Recorder::take_window`].
#[derive(Debug, Default, Clone)]
pub struct Window {
    /// Latencies in microseconds.
    pub latencies_us: Vec<u64>,
    /// Of which failed.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: BTreeMap<&'static str, EndpointSamples>,
    window: Window,
}

/// Shared by every virtual user of the run.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
    users: AtomicI64,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// The recorder of this process.
pub fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(Recorder::default)
}

/// Whether a status counts as an error: no response, or 4xx/5xx.
pub fn is_error(status: u16) -> bool {
    status == 0 || status >= 400
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking user cannot leave the samples half-written: keep using them.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one request.
    pub fn record(&self, endpoint: &'static str, status: u16, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let failed = is_error(status);
        let mut inner = self.lock();
        let samples = inner.endpoints.entry(endpoint).or_default();
        samples.latencies_us.push(us);
        *samples.statuses.entry(status).or_default() += 1;
        if failed {
            samples.errors += 1;
        }
        let seconds = latency.as_secs_f64();
        samples.sum_seconds += seconds;
        for (bound, count) in BUCKETS.iter().zip(samples.buckets.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        inner.window.latencies_us.push(us);
        if failed {
            inner.window.errors += 1;
        }
    }

    /// A virtual user started (+1) or stopped (-1).
    pub fn add_users(&self, delta: i64) {
        self.users.fetch_add(delta, Ordering::Relaxed);
    }

    /// Virtual users signed in and looping.
    pub fn users(&self) -> i64 {
        self.users.load(Ordering::Relaxed)
    }

    /// Requests since the previous call.
    pub fn take_window(&self) -> Window {
        std::mem::take(&mut self.lock().window)
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> BTreeMap<&'static str, EndpointSamples> {
        self.lock().endpoints.clone()
    }

    /// Total requests so far.
    pub fn total_requests(&self) -> u64 {
        self.lock()
            .endpoints
            .values()
            .map(|s| s.latencies_us.len() as u64)
            .sum()
    }

    /// The Prometheus text exposition of the run so far.
    pub fn render_prometheus(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        out.push_str("# HELP loadtest_users Virtual users signed in and looping.\n");
        out.push_str("# TYPE loadtest_users gauge\n");
        let _ = writeln!(out, "loadtest_users {}", self.users());
        out.push_str("# HELP loadtest_requests_total Requests sent, by endpoint and HTTP status (0: no response).\n");
        out.push_str("# TYPE loadtest_requests_total counter\n");
        for (endpoint, samples) in &inner.endpoints {
            for (status, count) in &samples.statuses {
                let _ = writeln!(
                    out,
                    "loadtest_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP loadtest_request_duration_seconds Latency seen by the load generator, body read included.\n");
        out.push_str("# TYPE loadtest_request_duration_seconds histogram\n");
        for (endpoint, samples) in &inner.endpoints {
            for (bound, count) in BUCKETS.iter().zip(samples.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "loadtest_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{bound}\"}} {count}"
                );
            }
            let total = samples.latencies_us.len();
            let _ = writeln!(
                out,
                "loadtest_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "loadtest_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {}",
                samples.sum_seconds
            );
            let _ = writeln!(
                out,
                "loadtest_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {total}"
            );
        }
        out
    }
}

/// The `q` quantile (0..=1) of `sorted` in milliseconds, nearest rank; 0 when empty.
pub fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(quantile_ms(&sorted, 0.5), 50.0);
        assert_eq!(quantile_ms(&sorted, 0.95), 95.0);
        assert_eq!(quantile_ms(&sorted, 0.99), 99.0);
        assert_eq!(quantile_ms(&[], 0.99), 0.0);
    }

    #[test]
    fn records_count_errors_and_render() {
        let recorder = Recorder::default();
        recorder.record("me", 200, Duration::from_millis(3));
        recorder.record("me", 500, Duration::from_millis(30));
        recorder.record("list", 0, Duration::from_millis(1));
        let snapshot = recorder.snapshot();
        assert_eq!(snapshot["me"].errors, 1);
        assert_eq!(snapshot["list"].errors, 1);
        assert_eq!(recorder.total_requests(), 3);
        let window = recorder.take_window();
        assert_eq!((window.latencies_us.len(), window.errors), (3, 2));
        assert!(recorder.take_window().latencies_us.is_empty());
        let text = recorder.render_prometheus();
        assert!(text.contains("loadtest_requests_total{endpoint=\"me\",status=\"500\"} 1"));
        assert!(text.contains("loadtest_request_duration_seconds_count{endpoint=\"me\"} 2"));
        assert!(
            text.contains(
                "loadtest_request_duration_seconds_bucket{endpoint=\"me\",le=\"0.005\"} 1"
            )
        );
    }
}
