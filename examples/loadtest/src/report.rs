//! The summary table, the JSON report and the pass/fail verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::{ENDPOINTS, EndpointSamples, quantile_ms};

/// Thresholds a run must stay under to pass.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// p95 latency, milliseconds.
    pub p95_ms: f64,
    /// Failed requests over all requests.
    pub error_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            p95_ms: 500.0,
            error_ratio: 0.01,
        }
    }
}

/// One endpoint's (or all endpoints') figures.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Endpoint name, or `total`.
    pub endpoint: String,
    /// Requests sent.
    pub requests: u64,
    /// Failed requests: no response, or a status of 400 or more.
    pub errors: u64,
    /// `errors / requests`.
    pub error_ratio: f64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Latency quantiles and maximum, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Requests by status (`0`: no response).
    pub statuses: BTreeMap<String, u64>,
}

fn figures(endpoint: &str, samples: &EndpointSamples, seconds: f64) -> Figures {
    let mut sorted = samples.latencies_us.clone();
    sorted.sort_unstable();
    let requests = sorted.len() as u64;
    Figures {
        endpoint: endpoint.to_owned(),
        requests,
        errors: samples.errors,
        error_ratio: if requests == 0 {
            0.0
        } else {
            samples.errors as f64 / requests as f64
        },
        rps: if seconds > 0.0 {
            requests as f64 / seconds
        } else {
            0.0
        },
        p50_ms: quantile_ms(&sorted, 0.50),
        p95_ms: quantile_ms(&sorted, 0.95),
        p99_ms: quantile_ms(&sorted, 0.99),
        max_ms: sorted.last().map_or(0.0, |us| *us as f64 / 1000.0),
        statuses: samples
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), *n))
            .collect(),
    }
}

/// Where the stress scenario crossed a threshold.
#[derive(Debug, Clone, Serialize)]
pub struct BreakPoint {
    /// Seconds into the run.
    pub at_seconds: f64,
    /// Users signed in and looping then.
    pub users: i64,
    /// Requests per second in the window.
    pub rps: f64,
    /// p95 of the window, milliseconds.
    pub p95_ms: f64,
    /// Error ratio of the window.
    pub error_ratio: f64,
    /// Which threshold it crossed.
    pub reason: String,
}

/// The JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Target.
    pub host: String,
    /// Users configured (the peak for spike and stress).
    pub users: usize,
    /// The goose test plan that ran.
    pub test_plan: String,
    /// Think time between requests, milliseconds (each wait is 0.5x to 1.5x).
    pub think_time_ms: u64,
    /// Measured run time, seconds.
    pub duration_seconds: f64,
    /// What decides pass or fail.
    pub thresholds: Thresholds,
    /// All endpoints together.
    pub total: Figures,
    /// By endpoint, in loop order.
    pub endpoints: Vec<Figures>,
    /// Stress only: where it broke, or `null` when it held up to the last user.
    pub stress_break: Option<BreakPoint>,
    /// Whether the run stayed under the thresholds.
    pub passed: bool,
    /// Why it failed.
    pub failures: Vec<String>,
}

/// What a run is, for the report.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Scenario name.
    pub scenario: String,
    /// Target.
    pub host: String,
    /// Users.
    pub users: usize,
    /// Goose test plan.
    pub test_plan: String,
    /// Think time, ms.
    pub think_time_ms: u64,
}

impl Report {
    /// Builds the report of `samples` over `seconds` and judges it.
    pub fn new(
        info: RunInfo,
        samples: &BTreeMap<&'static str, EndpointSamples>,
        seconds: f64,
        thresholds: Thresholds,
        stress_break: Option<BreakPoint>,
    ) -> Report {
        let mut all = EndpointSamples::default();
        for s in samples.values() {
            all.latencies_us.extend_from_slice(&s.latencies_us);
            all.errors += s.errors;
            for (status, n) in &s.statuses {
                *all.statuses.entry(*status).or_default() += n;
            }
        }
        let total = figures("total", &all, seconds);
        let endpoints: Vec<Figures> = ENDPOINTS
            .iter()
            .filter_map(|name| samples.get(name).map(|s| figures(name, s, seconds)))
            .collect();
        let mut failures = Vec::new();
        if total.requests == 0 {
            failures.push("no request was sent".to_owned());
        }
        if total.p95_ms >= thresholds.p95_ms {
            failures.push(format!(
                "p95 {:.1} ms is not under {} ms",
                total.p95_ms, thresholds.p95_ms
            ));
        }
        if total.error_ratio >= thresholds.error_ratio {
            failures.push(format!(
                "error ratio {:.2}% is not under {:.2}%",
                total.error_ratio * 100.0,
                thresholds.error_ratio * 100.0
            ));
        }
        if let Some(point) = &stress_break {
            failures.push(format!(
                "broke at {} users after {:.0} s: {}",
                point.users, point.at_seconds, point.reason
            ));
        }
        Report {
            scenario: info.scenario,
            host: info.host,
            users: info.users,
            test_plan: info.test_plan,
            think_time_ms: info.think_time_ms,
            duration_seconds: seconds,
            thresholds,
            total,
            endpoints,
            stress_break,
            passed: failures.is_empty(),
            failures,
        }
    }

    /// The summary table and verdict, for the terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nscenario {} against {}: {} users, {:.1} s, think time {} ms",
            self.scenario, self.host, self.users, self.duration_seconds, self.think_time_ms
        );
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "endpoint", "requests", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"
        );
        for row in self.endpoints.iter().chain(std::iter::once(&self.total)) {
            let _ = writeln!(
                out,
                "{:<10} {:>9} {:>8.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}",
                row.endpoint,
                row.requests,
                row.rps,
                row.p50_ms,
                row.p95_ms,
                row.p99_ms,
                row.max_ms,
                row.errors
            );
        }
        if let Some(point) = &self.stress_break {
            let _ = writeln!(
                out,
                "stress: broke at {} users after {:.0} s ({:.1} rps, p95 {:.1} ms, errors {:.2}%): {}",
                point.users,
                point.at_seconds,
                point.rps,
                point.p95_ms,
                point.error_ratio * 100.0,
                point.reason
            );
        } else if self.scenario == "stress" {
            let _ = writeln!(out, "stress: held up to {} users", self.users);
        }
        if self.passed {
            let _ = writeln!(
                out,
                "PASS: p95 < {} ms and errors < {:.2}%",
                self.thresholds.p95_ms,
                self.thresholds.error_ratio * 100.0
            );
        } else {
            let _ = writeln!(out, "FAIL: {}", self.failures.join("; "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn totals_add_up_and_judge() {
        let recorder = Recorder::default();
        for _ in 0..99 {
            recorder.record("me", 200, Duration::from_millis(10));
        }
        recorder.record("list", 503, Duration::from_millis(900));
        let info = RunInfo {
            scenario: "baseline".into(),
            host: "http://127.0.0.1:1".into(),
            users: 1,
            test_plan: "1,1s".into(),
            think_time_ms: 0,
        };
        let report = Report::new(
            info,
            &recorder.snapshot(),
            10.0,
            Thresholds::default(),
            None,
        );
        assert_eq!(report.total.requests, 100);
        assert_eq!(report.total.errors, 1);
        assert_eq!(report.total.rps, 10.0);
        assert_eq!(report.endpoints.len(), 2);
        assert_eq!(report.endpoints[0].endpoint, "me");
        // 1% errors is not under 1%.
        assert!(!report.passed);
        assert!(report.table().contains("FAIL"));
    }
}
