//! Load scenarios for the todo-backend example: baseline, normal, high, spike and stress, with
//! a live progress line, a summary table, a JSON report, optional Prometheus metrics of the
//! load generator itself, and an exit code that says whether the thresholds held.

mod plan;
mod report;
mod stats;
mod user;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::plan::{Scenario, parse_duration};
use crate::report::{BreakPoint, Report, RunInfo, Thresholds};
use crate::stats::{quantile_ms, recorder};
use crate::user::{complete, create, delete, list, me, sign_in, sign_out};

/// Load scenarios for the todo-backend example.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Base URL of the service (Caddy in front of the instances, or one instance).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    host: String,
    /// baseline (10 users), normal (50), high (100), spike (100 at the peak) or stress (up to 150).
    #[arg(long, default_value = "baseline", value_parser = str::parse::<Scenario>)]
    scenario: Scenario,
    /// Virtual users (the peak for spike and stress); default from the scenario.
    #[arg(long)]
    users: Option<usize>,
    /// Run time, e.g. 60s, 2m; default 60s (stress 90s).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Mean think time between a user's requests (each wait is 0.5x to 1.5x of it).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    think_time: Duration,
    /// Writes the JSON report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Serves the load generator's Prometheus metrics on this address (e.g. 127.0.0.1:9900).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// p95 latency threshold in milliseconds.
    #[arg(long, default_value_t = 500.0)]
    max_p95_ms: f64,
    /// Error ratio threshold, in percent.
    #[arg(long, default_value_t = 1.0)]
    max_error_percent: f64,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: usize,
}

/// Seconds between the stress watchdog's judgements, each over the last window.
const STRESS_WINDOW: Duration = Duration::from_secs(5);
/// A stress window with fewer requests is not judged.
const STRESS_MIN_REQUESTS: usize = 50;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(message) => {
            eprintln!("loadtest: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<bool, String> {
    let host = cli.host.trim_end_matches('/').to_owned();
    if !(host.starts_with("http://") || host.starts_with("https://")) {
        return Err(format!(
            "--host `{host}` must be an http:// or https:// URL"
        ));
    }
    let users = cli.users.unwrap_or(cli.scenario.default_users());
    if users == 0 {
        return Err("--users must be at least 1".to_owned());
    }
    let duration = cli.duration.unwrap_or(cli.scenario.default_duration());
    if duration < Duration::from_secs(2) {
        return Err("--duration must be at least 2s".to_owned());
    }
    if !cli.max_p95_ms.is_finite()
        || cli.max_p95_ms <= 0.0
        || !(0.0..=100.0).contains(&cli.max_error_percent)
    {
        return Err("--max-p95-ms must be positive and --max-error-percent within 0..=100".into());
    }
    let thresholds = Thresholds {
        p95_ms: cli.max_p95_ms,
        error_ratio: cli.max_error_percent / 100.0,
    };
    let test_plan = cli.scenario.test_plan(users, duration);
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    user::set_run_id(format!("{started_unix}-{}", std::process::id()));

    if let Some(addr) = cli.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
        tokio::spawn(serve_metrics(listener));
        eprintln!("loadtest: metrics on http://{addr}/metrics");
    }

    let think = cli.think_time;
    let scenario = goose::goose::Scenario::new("TodoUser")
        .set_wait_time(think / 2, think + think / 2)
        .map_err(|e| format!("--think-time: {e}"))?
        .register_transaction(transaction!(sign_in).set_name("sign in").set_on_start())
        .register_transaction(transaction!(me).set_name("me").set_sequence(1))
        .register_transaction(transaction!(list).set_name("list").set_sequence(2))
        .register_transaction(transaction!(create).set_name("create").set_sequence(3))
        .register_transaction(transaction!(complete).set_name("complete").set_sequence(4))
        .register_transaction(transaction!(delete).set_name("delete").set_sequence(5))
        .register_transaction(transaction!(sign_out).set_name("sign out").set_on_stop());

    let attack = goose_attack(&host, &test_plan, cli.timeout)?.register_scenario(scenario);

    let break_point: Arc<Mutex<Option<BreakPoint>>> = Arc::default();
    let started = Instant::now();
    let monitor = tokio::spawn(monitor(
        started,
        cli.scenario == Scenario::Stress,
        thresholds,
        Arc::clone(&break_point),
    ));
    eprintln!(
        "loadtest: {} against {host}: {users} users, {} s, test plan {test_plan}",
        cli.scenario,
        duration.as_secs()
    );
    let result = attack.execute().await;
    let seconds = started.elapsed().as_secs_f64();
    monitor.abort();
    eprintln!();
    result.map_err(|e| format!("the load test failed to run: {e:?}"))?;

    let stress_break = break_point
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let report = Report::new(
        RunInfo {
            scenario: cli.scenario.name().to_owned(),
            host,
            users,
            test_plan,
            think_time_ms: u64::try_from(think.as_millis()).unwrap_or(u64::MAX),
        },
        &recorder().snapshot(),
        seconds,
        thresholds,
        stress_break,
    );
    print!("{}", report.table());
    if let Some(path) = &cli.report {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| format!("encoding the report: {e}"))?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("writing the report to {}: {e}", path.display()))?;
        eprintln!("loadtest: report written to {}", path.display());
    }
    Ok(report.passed)
}

/// A goose attack configured in code (goose's own command line is not parsed), with its
/// controllers and metrics printout off: the progress line and table are ours.
fn goose_attack(host: &str, test_plan: &str, timeout: usize) -> Result<GooseAttack, String> {
    let goose_error = |e: GooseError| format!("configuring goose: {e}");
    let timeout = timeout.to_string();
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_error)?
        .set_default(GooseDefault::Host, host)
        .map_err(goose_error)?
        .set_default(GooseDefault::TestPlan, test_plan)
        .map_err(goose_error)?
        .set_default(GooseDefault::Timeout, timeout.as_str())
        .map_err(goose_error)?
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(goose_error)?
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(goose_error)?
        .set_default(GooseDefault::NoErrorSummary, true)
        .map_err(goose_error)?
        .set_default(GooseDefault::Quiet, 1)
        .map_err(goose_error)?;
    Ok(*attack)
}

/// Prints the progress line every second and, for stress, stops the run at the first
/// window over the thresholds.
async fn monitor(
    started: Instant,
    stress: bool,
    thresholds: Thresholds,
    break_point: Arc<Mutex<Option<BreakPoint>>>,
) {
    let terminal = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut window = Vec::new();
    let mut window_errors = 0u64;
    let mut window_started = Instant::now();
    let mut last_line = Instant::now();
    loop {
        tick.tick().await;
        let taken = recorder().take_window();
        let rps_now = taken.latencies_us.len();
        window.extend(taken.latencies_us);
        window_errors += taken.errors;
        let elapsed = started.elapsed().as_secs();
        let users = recorder().users();
        let total = recorder().total_requests();
        let mut sorted = window.clone();
        sorted.sort_unstable();
        let p95 = quantile_ms(&sorted, 0.95);
        let error_ratio = if sorted.is_empty() {
            0.0
        } else {
            window_errors as f64 / sorted.len() as f64
        };
        let line = format!(
            "[{elapsed:>4}s] users {users:>4} | requests {total:>8} | {rps_now:>6} rps | p95 {p95:>7.1} ms | errors {:>5.2}%",
            error_ratio * 100.0
        );
        if terminal {
            eprint!("\r{line}");
        } else if last_line.elapsed() >= Duration::from_secs(5) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        if window_started.elapsed() < STRESS_WINDOW {
            continue;
        }
        if stress && sorted.len() >= STRESS_MIN_REQUESTS {
            let reason = if p95 >= thresholds.p95_ms {
                Some(format!(
                    "window p95 {p95:.1} ms >= {} ms",
                    thresholds.p95_ms
                ))
            } else if error_ratio >= thresholds.error_ratio {
                Some(format!(
                    "window errors {:.2}% >= {:.2}%",
                    error_ratio * 100.0,
                    thresholds.error_ratio * 100.0
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                let point = BreakPoint {
                    at_seconds: started.elapsed().as_secs_f64(),
                    users,
                    rps: sorted.len() as f64 / window_started.elapsed().as_secs_f64(),
                    p95_ms: p95,
                    error_ratio,
                    reason,
                };
                *break_point
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(point);
                eprintln!("\nloadtest: stress threshold crossed, stopping");
                goose::trigger_killswitch("stress threshold crossed");
                return;
            }
        }
        window.clear();
        window_errors = 0;
        window_started = Instant::now();
    }
}

/// Answers every connection with the metrics exposition (any path; one request per
/// connection).
async fn serve_metrics(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            // The request itself does not matter; read what arrived before answering.
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
            let body = recorder().render_prometheus();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
