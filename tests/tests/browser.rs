#![allow(clippy::unwrap_used, missing_docs)]
//! The todo page in headless Chromium (Debian `chromium`, driven by playwright-core from
//! `tests/browser/`), through Caddy, with the example on PostgreSQL and Redis and one OTLP/HTTP
//! collector for the backend's spans and the browser spans the RUM receiver forwards. After
//! signing up, creating and completing a todo and throwing the page's deliberate error:
//!
//! - the receiver recorded the page's FCP and TTFB (`browser_web_vital_*` in `/metrics`);
//! - `browser_exceptions_total` rose, and the exception's log line carries its stack trace
//!   (`app.js` is served unminified, so its frames are already the original file, line and
//!   function; source-map resolution is covered by obs-axum's own tests);
//! - the collector holds one trace with the browser's fetch span (client kind), the backend's
//!   server span as its child and the sqlx span below that.

use std::collections::BTreeMap;
use std::time::Duration;

use obs_e2e::{BackendOptions, BrowserTools, Stack, repo_root};
use obs_testkit::{Exposition, OtlpCollector, PgDatabase, ReceivedSpan};
use serde_json::Value;

/// The sum of every sample of `name` (all label sets) in a Prometheus text exposition.
fn sample_sum(exposition: &str, name: &str) -> f64 {
    Exposition::parse(exposition).unwrap().sum(name)
}

async fn metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The browser fetch span of `POST /api/todos`, the server span below it and the sqlx INSERT
/// below that, all in one trace.
fn browser_to_sql(spans: &[ReceivedSpan]) -> Option<(ReceivedSpan, ReceivedSpan, ReceivedSpan)> {
    let servers = spans
        .iter()
        .filter(|s| s.name() == "POST /api/todos" && s.kind() == 2);
    for server in servers {
        let Some(client) = spans.iter().find(|s| {
            s.kind() == 3
                && s.span_id() == server.parent_span_id()
                && s.trace_id() == server.trace_id()
        }) else {
            continue;
        };
        let Some(sql) = spans.iter().find(|s| {
            s.parent_span_id() == server.span_id()
                && s.attr("db.system.name").as_deref() == Some("postgresql")
                && s.attr("db.operation.name").as_deref() == Some("INSERT")
        }) else {
            continue;
        };
        return Some((client.clone(), server.clone(), sql.clone()));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_in_chromium_is_one_trace_down_to_sql_and_the_receiver_records_the_page() {
    let Some(BrowserTools { node, chromium, .. }) = BrowserTools::ready().await else {
        return;
    };
    let driver = repo_root().join("tests/browser");
    let frontend = repo_root().join("examples/todo-backend/frontend");

    let Some(db) = PgDatabase::create("obs_e2e").await else {
        return;
    };
    let Some(redis_url) = obs_testkit::fresh_redis_db(13).await else {
        return;
    };
    let collector = OtlpCollector::start_http().await;
    let options = BackendOptions {
        database_url: db.url().to_owned(),
        redis_url: Some(redis_url),
        otlp_endpoint: Some(collector.endpoint()),
        extra_env: BTreeMap::from([
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
                "http/protobuf".to_owned(),
            ),
            ("FRONTEND_DIR".to_owned(), frontend.display().to_string()),
        ]),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };
    let port = stack.backends[0].1;
    let before = metrics(port).await;
    let exceptions_before = sample_sum(&before, "browser_exceptions_total");

    let run = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&node)
            .arg(driver.join("drive.mjs"))
            .current_dir(&driver)
            .env("BASE_URL", &stack.url)
            .env("CHROMIUM", &chromium)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser run timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}\nbackend:\n{}",
        stack.backends[0].0.output()
    );
    let seen: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("no summary from the driver:\n{stdout}\n{stderr}"));
    assert!(
        seen["faroRequests"].as_u64().unwrap_or(0) > 0,
        "the page never posted to /faro/collect: {seen}"
    );
    assert!(
        seen["faroStatuses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s == 202),
        "the receiver refused a batch: {seen}"
    );

    // The receiver recorded the page load and the error.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        let text = metrics(port).await;
        let done = sample_sum(&text, "browser_web_vital_fcp_seconds_count") > 0.0
            && sample_sum(&text, "browser_web_vital_ttfb_seconds_count") > 0.0
            && sample_sum(&text, "browser_exceptions_total") > exceptions_before
            && sample_sum(&text, "browser_navigation_phase_duration_seconds_count") > 0.0
            && sample_sum(&text, "browser_resource_transfer_size_bytes_count") > 0.0;
        if done || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let exposition = Exposition::parse(&after).unwrap();
    let vital = |name: &str| {
        exposition
            .series(&format!("{name}_count"))
            .map(|s| (s.labels.clone(), s.value))
            .collect::<Vec<_>>()
    };
    for name in [
        "browser_web_vital_fcp_seconds",
        "browser_web_vital_ttfb_seconds",
    ] {
        let page = [("app_name", "todo-frontend"), ("page_route", "/")];
        assert!(
            exposition
                .series(&format!("{name}_count"))
                .any(|s| s.has_labels(&page) && s.value > 0.0),
            "{name} not recorded for the page: {:?}\n{seen}",
            vital(name)
        );
    }
    // Faro's performance events: the page load's phases and the page's scripts (the example
    // sets `trackResources`), as Chromium measured them.
    let page = [("app_name", "todo-frontend"), ("page_route", "/")];
    for phase in ["ttfb", "page_load"] {
        assert!(
            exposition
                .series("browser_navigation_phase_duration_seconds_count")
                .any(|s| s.has_labels(&page) && s.has_labels(&[("phase", phase)]) && s.value > 0.0),
            "no {phase} navigation phase recorded\n{seen}"
        );
    }
    assert!(
        exposition
            .value_matching(
                "browser_resource_transfer_size_bytes_sum",
                &[("app_name", "todo-frontend"), ("initiator_type", "script")]
            )
            .is_some_and(|bytes| bytes > 10_000.0),
        "the page's scripts were not recorded:\n{}",
        after
            .lines()
            .filter(|l| l.starts_with("browser_resource"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // LCP and CLS follow when the page is hidden; Chromium reports them, but only note them.
    for name in ["browser_web_vital_lcp_seconds", "browser_web_vital_cls"] {
        eprintln!("{name}: {:?}", vital(name));
    }
    assert!(
        exposition
            .value(
                "browser_exceptions_total",
                &[("app_name", "todo-frontend"), ("error_type", "Error")]
            )
            .is_some_and(|count| count >= 1.0),
        "no Error counted:\n{}",
        after
            .lines()
            .filter(|l| l.starts_with("browser_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let events = |name: &str| -> f64 {
        exposition
            .series("browser_events_total")
            .filter(|s| s.label("event_name") == Some(name))
            .map(|s| s.value)
            .sum()
    };
    for name in ["signup", "todo_created", "todo_completed"] {
        assert!(events(name) >= 1.0, "no {name} event counted");
    }

    // The exception's log line, with the stack of the deliberate error.
    let log = stack.backends[0].0.output();
    let line = log
        .lines()
        .find(|l| l.contains("browser exception") && l.contains("deliberate error"))
        .unwrap_or_else(|| panic!("no exception log line:\n{log}"));
    let line: Value = serde_json::from_str(line).unwrap();
    let fields = &line["fields"];
    let stack_text = fields["stacktrace"].as_str().unwrap_or_default();
    assert!(
        stack_text.contains("throwDeliberateError") && stack_text.contains("/app.js:"),
        "the stack names the function and the script: {line}"
    );
    assert_eq!(fields["page_route"], "/", "{line}");
    assert_eq!(line["level"], "ERROR", "{line}");

    // One trace from the click to the SQL statement.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        let spans = collector.spans();
        if let Some(found) = browser_to_sql(&spans) {
            break found;
        }
        if tokio::time::Instant::now() > deadline {
            let names: Vec<String> = spans
                .iter()
                .map(|s| format!("{} kind={} trace={}", s.name(), s.kind(), s.trace_id()))
                .collect();
            panic!(
                "no browser → server → sql trace among {names:#?}\nbackend:\n{}",
                stack.backends[0].0.output()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let (client, server, sql) = found;
    assert_eq!(client.trace_id(), sql.trace_id());
    assert_eq!(server.parent_span_id(), client.span_id());
    assert_eq!(sql.parent_span_id(), server.span_id());
    assert_eq!(
        client.resource.get("service.name").map(String::as_str),
        Some("todo-frontend"),
        "the browser span comes from the page: {:?}",
        client.resource
    );
    assert_eq!(server.resource["service.name"], "todo-backend");
}
