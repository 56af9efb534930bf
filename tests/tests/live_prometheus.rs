//! The proof behind the bundled monitoring: the example runs on PostgreSQL and Redis behind
//! Caddy, with both exporters, a real Prometheus evaluating `monitoring/prometheus/rules` and a
//! real Alertmanager. Then:
//!
//! - every PromQL expression of every dashboard and rule file parses, and returns data from the
//!   live Prometheus (the traffic includes page loads with the Faro batches the page would send,
//!   so the `browser_*` series of the RUM receiver exist), except the alert expressions, which must be empty at rest (Watchdog aside);
//! - every metric name they reference is in a real scrape;
//! - 20% injected errors and one stopped backend of three are one incident and one page: the
//!   availability burn rate pages through Alertmanager to the webhook, HighErrorRate fires but is
//!   muted by it, the stopped backend is a TargetDown ticket; clearing the faults resolves both.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obs_e2e::monitoring::{self, query};
use obs_e2e::{BackendOptions, Stack, repo_root};
use obs_testkit::PgDatabase;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::{Value, json};

/// Alert expressions that must return nothing while the system is healthy.
/// Every alert rule is on this list except `Watchdog`, which always fires.
const QUIET_AT_REST_EXCEPT: &[&str] = &["Watchdog"];

/// Grafana's variables, replaced the way the dashboards would be rendered for the example.
fn render_grafana(expr: &str) -> String {
    [
        ("${__rate_interval}", "1m"),
        ("$__rate_interval", "1m"),
        ("${__interval}", "1m"),
        ("$__interval", "1m"),
        ("${__range}", "5m"),
        ("$__range", "5m"),
        ("${job}", "todo-backend"),
        ("$job", "todo-backend"),
        ("${instance:regex}", ".*"),
        ("${instance}", ".*"),
        ("$instance", ".*"),
        ("${route:regex}", ".*"),
        ("${route}", ".*"),
        ("$route", ".*"),
    ]
    .iter()
    .fold(expr.to_owned(), |acc, (from, to)| acc.replace(from, to))
}

/// A PromQL expression and where it came from.
#[derive(Debug, Clone)]
struct Query {
    origin: String,
    expr: String,
    /// The alert's name, for alert rules.
    alert: Option<String>,
}

fn dashboard_queries() -> Vec<Query> {
    fn walk(value: &Value, origin: &str, loki: bool, out: &mut Vec<Query>) {
        match value {
            Value::Object(map) => {
                let is_loki = loki
                    || map
                        .get("datasource")
                        .is_some_and(|d| d["type"] == "loki" || d["uid"] == "loki" || d == "loki");
                if let Some(Value::String(expr)) = map.get("expr")
                    && !is_loki
                    && !expr.trim().is_empty()
                {
                    let title = map.get("title").and_then(Value::as_str).unwrap_or("");
                    out.push(Query {
                        origin: format!("{origin} {title}"),
                        expr: render_grafana(expr),
                        alert: None,
                    });
                }
                for (key, child) in map {
                    // Template variables hold Grafana functions (label_values), not PromQL;
                    // annotations are events (a deploy, an alert), empty while none happens:
                    // they are parsed and their metric names checked in annotation_queries.
                    if key == "templating" || key == "annotations" {
                        continue;
                    }
                    let panel_title = map.get("title").and_then(Value::as_str).unwrap_or("");
                    walk(child, &format!("{origin}/{panel_title}"), is_loki, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, origin, loki, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let dir = repo_root().join("monitoring/grafana/dashboards");
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let json: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                walk(&json, &name, false, &mut out);
            }
        }
    }
    out
}

/// The PromQL of every dashboard's annotations (deploys from `obs_build_info`, alerts from
/// `ALERTS`).
fn annotation_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("monitoring/grafana/dashboards/obs")).unwrap() {
        let path = entry.unwrap().path();
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for annotation in json["annotations"]["list"].as_array().into_iter().flatten() {
            if let Some(expr) = annotation["expr"].as_str() {
                out.push(Query {
                    origin: format!("{} annotation {}", path.display(), annotation["name"]),
                    expr: render_grafana(expr),
                    alert: None,
                });
            }
        }
    }
    out
}

fn rule_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("monitoring/prometheus/rules")).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for group in doc["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                let name = rule["alert"]
                    .as_str()
                    .or_else(|| rule["record"].as_str())
                    .unwrap()
                    .to_owned();
                out.push(Query {
                    origin: format!("{file} {name}"),
                    expr: rule["expr"].as_str().unwrap().to_owned(),
                    alert: rule["alert"].as_str().map(str::to_owned),
                });
            }
        }
    }
    out
}

/// Metric names a parsed expression selects.
struct Names(BTreeSet<String>);

impl ExprVisitor for Names {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        match expr {
            Expr::VectorSelector(vs) => {
                if let Some(name) = &vs.name {
                    self.0.insert(name.clone());
                }
            }
            Expr::MatrixSelector(ms) => {
                if let Some(name) = &ms.vs.name {
                    self.0.insert(name.clone());
                }
            }
            _ => {}
        }
        Ok(true)
    }
}

/// Receives Alertmanager's webhook posts.
#[derive(Clone, Default)]
struct Webhook {
    posts: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts = self.posts.clone();
        let app = axum::Router::new().route(
            "/alerts",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let posts = posts.clone();
                async move {
                    posts.lock().unwrap().push(body);
                    "ok"
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        port
    }

    fn alerts(&self, name: &str, status: &str) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["alertname"] == name && a["status"] == status)
            .collect()
    }
}

/// What the Faro Web SDK on the todo page sends after a page load: the five web vitals (ratings
/// cycling through good, needs-improvement and poor, values on the matching side of the
/// thresholds), the journey's custom events and, one batch in four, an exception.
fn faro_batch(worker: usize, i: u64) -> Value {
    let (rating, scale) = match (i / 6) % 3 {
        0 => ("good", 0.5),
        1 => ("needs-improvement", 1.3),
        _ => ("poor", 2.5),
    };
    let timestamp = "2026-01-01T00:00:00.000Z";
    let id = format!("v5-{worker}-{i}");
    // (vital, good threshold in the unit Faro sends: milliseconds, unitless for CLS)
    let measurements: Vec<Value> = [
        ("lcp", 2500.0),
        ("fcp", 1800.0),
        ("inp", 200.0),
        ("ttfb", 800.0),
        ("cls", 0.1),
    ]
    .iter()
    .map(|(name, good)| {
        let value = good * scale;
        json!({
            "type": "web-vitals",
            "values": {*name: value, "delta": value},
            "timestamp": timestamp,
            "context": {"rating": rating, "id": format!("{name}-{id}"), "navigation_type": "navigate"},
        })
    })
    .collect();
    let names: &[&str] = if i % 12 == 3 {
        &["signup", "login", "todo_created"]
    } else {
        &["todo_created", "todo_completed"]
    };
    let mut events: Vec<Value> = names
        .iter()
        .map(|name| json!({"name": name, "domain": "browser", "attributes": {"priority": "high"}, "timestamp": timestamp}))
        .collect();
    // Faro's performance events, as 2.12 sends them (milliseconds and bytes as decimal
    // strings): the navigation phases and the resource panels of Frontend Performance.
    let ms = |good: f64| format!("{:.0}", good * scale);
    events.push(json!({
        "name": "faro.performance.navigation",
        "domain": "browser",
        "timestamp": timestamp,
        "attributes": {
            "dnsLookupTime": ms(8.0), "tcpHandshakeTime": ms(30.0), "tlsNegotiationTime": ms(15.0),
            "ttfb": ms(150.0), "domProcessingTime": ms(300.0), "pageLoadTime": ms(900.0),
            "duration": ms(950.0), "transferSize": "4800", "initiatorType": "navigation",
            "type": "navigate", "faroNavigationId": format!("nav-{id}"),
        },
    }));
    for (initiator, duration, bytes) in [("script", 60.0, "6900"), ("fetch", 25.0, "420")] {
        events.push(json!({
            "name": "faro.performance.resource",
            "domain": "browser",
            "timestamp": timestamp,
            "attributes": {
                "duration": ms(duration), "transferSize": bytes, "initiatorType": initiator,
                "faroNavigationId": format!("nav-{id}"),
            },
        }));
    }
    let mut batch = json!({
        "meta": {
            "sdk": {"name": "@grafana/faro-web-sdk", "version": "2.12.1"},
            "app": {"name": "todo-frontend", "version": "0.1.0"},
            "session": {"id": format!("session-{worker}"), "attributes": {"isSampled": "true"}},
            "page": {"id": format!("page-{id}"), "url": "http://localhost/"},
            "browser": {"name": "Chrome", "version": "140", "os": "Linux", "mobile": false},
        },
        "measurements": measurements,
        "events": events,
    });
    if i % 24 == 3 {
        batch["exceptions"] = json!([{
            "type": "Error",
            "value": "deliberate error from the todo page",
            "timestamp": timestamp,
            "stacktrace": {"frames": [
                {"filename": "http://localhost/app.js", "function": "throwDeliberateError", "lineno": 171, "colno": 9},
            ]},
        }]);
    }
    batch
}

/// Keeps a realistic mix of requests flowing through Caddy until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    /// Requests that got an HTTP response (of any status) back through Caddy.
    answered: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Traffic {
    async fn start(base: &str, workers: usize, pause: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for w in 0..workers {
            let base = base.to_owned();
            let stop = stop.clone();
            let answered = answered.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let email = format!("{}@example.com", obs_testkit::unique(&format!("load{w}")));
                let signup = client
                    .post(format!("{base}/api/auth/signup"))
                    .json(&json!({"email": email, "password": "password123", "name": "Load"}))
                    .send()
                    .await;
                let token = match signup {
                    Ok(r) => r.json::<Value>().await.ok().and_then(|v| {
                        v["token"].as_str().map(str::to_owned)
                    }),
                    Err(_) => None,
                };
                let token = token.unwrap_or_default();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let response = match i % 6 {
                        0 => client
                            .post(format!("{base}/api/todos"))
                            .bearer_auth(&token)
                            .json(&json!({"title": format!("task {i}"), "priority": "high"}))
                            .send()
                            .await,
                        1 => client.get(format!("{base}/api/todos/999999999")).bearer_auth(&token).send().await,
                        2 => client
                            .post(format!("{base}/api/auth/login"))
                            .json(&json!({"email": email, "password": if i % 12 == 2 { "wrong-password" } else { "password123" }}))
                            .send()
                            .await,
                        // A page load: the page and its script, then the batch Faro sends.
                        3 => {
                            let _ = client.get(format!("{base}/")).send().await;
                            let _ = client.get(format!("{base}/app.js")).send().await;
                            client
                                .post(format!("{base}/faro/collect"))
                                .json(&faro_batch(w, i))
                                .send()
                                .await
                        }
                        _ => client.get(format!("{base}/api/todos?limit=5")).bearer_auth(&token).send().await,
                    };
                    if response.is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        Traffic {
            stop,
            answered,
            tasks,
        }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        self.answered.load(Ordering::Relaxed)
    }
}

async fn alert_state(prometheus: &str, name: &str) -> Option<String> {
    let response: Value = reqwest::get(format!("{prometheus}/api/v1/alerts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .map(|a| a["state"].as_str().unwrap().to_owned())
        .max_by_key(|s| if s == "firing" { 2 } else { 1 })
}

async fn wait_for_state(
    prometheus: &str,
    name: &str,
    want: Option<&str>,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if alert_state(prometheus, name).await.as_deref() == want {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

async fn chaos(client: &reqwest::Client, port: u16, body: Option<Value>) {
    let url = format!("http://127.0.0.1:{port}/admin/chaos");
    let request = match body {
        Some(body) => client.put(url).json(&body),
        None => client.delete(url),
    };
    let response = request.bearer_auth("live-test").send().await.unwrap();
    assert!(
        response.status().is_success(),
        "chaos: {}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_rules_hold_against_a_live_prometheus() {
    // Everything parses before anything starts.
    let dashboards = dashboard_queries();
    let rules = rule_queries();
    assert!(
        rules.len() >= 35,
        "expected the full rule set, found {}",
        rules.len()
    );
    let annotations = annotation_queries();
    assert!(!annotations.is_empty(), "no dashboard annotations");
    let mut names = BTreeSet::new();
    for q in dashboards.iter().chain(&rules).chain(&annotations) {
        let parsed = promql_parser::parser::parse(&q.expr)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", q.origin, q.expr));
        let mut visitor = Names(BTreeSet::new());
        walk_expr(&mut visitor, &parsed).unwrap();
        names.extend(visitor.0);
    }

    let Some(db) = PgDatabase::create("obs_e2e").await else {
        return;
    };
    let Some(redis_url) = obs_testkit::fresh_redis_db(14).await else {
        return;
    };
    // The backends push their logs to a Loki receiver, so the pusher's counters are scraped.
    let loki = obs_testkit::LokiReceiver::start().await;
    let options = BackendOptions {
        database_url: db.url().to_owned(),
        redis_url: Some(redis_url),
        chaos_token: Some("live-test".into()),
        extra_env: BTreeMap::from([("LOKI_URL".to_owned(), loki.url())]),
        ..Default::default()
    };
    let Some(mut stack) = Stack::start(3, &options).await else {
        return;
    };
    let Some(pg_exporter) = monitoring::postgres_exporter(db.name()).await else {
        return;
    };
    let Some(redis_exporter) = monitoring::redis_exporter().await else {
        return;
    };
    let webhook = Webhook::default();
    let webhook_port = webhook.start().await;
    let Some(alertmanager) =
        monitoring::alertmanager(&format!("http://127.0.0.1:{webhook_port}/alerts")).await
    else {
        return;
    };
    let caddy_admin = stack.caddy_admin.trim_start_matches("http://").to_owned();
    let mut targets: monitoring::Targets = vec![(
        "todo-backend".into(),
        stack
            .backends
            .iter()
            .enumerate()
            .map(|(i, (_, port))| (format!("backend-{}", i + 1), format!("127.0.0.1:{port}")))
            .collect(),
    )];
    targets.push(("caddy".into(), vec![("caddy".into(), caddy_admin)]));
    targets.push((
        "postgres".into(),
        vec![(
            "postgres-exporter".into(),
            format!("127.0.0.1:{}", pg_exporter.port),
        )],
    ));
    targets.push((
        "redis".into(),
        vec![(
            "redis-exporter".into(),
            format!("127.0.0.1:{}", redis_exporter.port),
        )],
    ));
    targets.push((
        "alertmanager".into(),
        vec![(
            "alertmanager".into(),
            format!("127.0.0.1:{}", alertmanager.port),
        )],
    ));
    let Some(prometheus) = monitoring::prometheus(&targets, alertmanager.port, "1s").await else {
        return;
    };
    let prom = prometheus.url();

    // A healthy traffic mix through Caddy, then give rates and rules time to fill.
    let traffic = Traffic::start(&stack.url, 4, Duration::from_millis(100)).await;
    // One malformed Faro batch, as a broken SDK would send: the receiver's rejection counter.
    let rejected = reqwest::Client::new()
        .post(format!("{}/faro/collect", stack.url))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 400, "a malformed batch is rejected");
    tokio::time::sleep(Duration::from_secs(25)).await;
    let up = query(&prom, "sum(up)").await;
    assert_eq!(up[0]["value"][1], "8", "all targets up: {up:?}");
    // Rule groups keep their own intervals (the SLO group evaluates every 30 s) and start at an
    // offset: wait until every recording rule has been evaluated once.
    let recorded: Vec<&str> = rules
        .iter()
        .filter(|q| q.alert.is_none())
        .map(|q| q.origin.rsplit(' ').next().unwrap_or_default())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for name in &recorded {
        while query(&prom, name).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "recording rule {name} never evaluated"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    // Every dashboard and recording-rule expression returns data; alert expressions are empty.
    let mut empty = Vec::new();
    for q in dashboards.iter().chain(&rules) {
        let result = query(&prom, &q.expr).await;
        match &q.alert {
            Some(alert) if !QUIET_AT_REST_EXCEPT.contains(&alert.as_str()) => {
                assert!(result.is_empty(), "{} fires at rest: {result:?}", q.origin);
            }
            _ => {
                if result.is_empty() {
                    empty.push(format!("{}: {}", q.origin, q.expr));
                }
            }
        }
    }
    assert!(
        empty.is_empty(),
        "expressions without data:\n{}",
        empty.join("\n")
    );
    // Annotation queries run (query() fails on an error); they need no data at rest.
    for q in &annotations {
        query(&prom, &q.expr).await;
    }

    // Every metric name referenced exists in a real scrape (or is produced by a rule).
    let scraped: Value = reqwest::get(format!("{prom}/api/v1/label/__name__/values"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let scraped: BTreeSet<String> = scraped["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // The memory limit exists only under a limit, as in compose.
    if !stack.memory_limited() {
        obs_testkit::require("no memory cgroup for the backends (needs root and cgroupfs)");
    }
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !scraped.contains(*n) && n.as_str() != "ALERTS")
        .filter(|n| stack.memory_limited() || n.as_str() != obs_core::names::PROCESS_MEMORY_LIMIT)
        .collect();
    assert!(
        missing.is_empty(),
        "referenced but never scraped: {missing:?}"
    );

    // Faults: 20% errors on every instance, and one instance stopped.
    let client = reqwest::Client::new();
    for (_, port) in &stack.backends {
        chaos(&client, *port, Some(json!({"error_rate": 0.2}))).await;
    }
    stack.backends[2].0.kill().await;

    assert!(
        wait_for_state(
            &prom,
            "HighErrorRate",
            Some("pending"),
            Duration::from_secs(60)
        )
        .await,
        "HighErrorRate never went pending"
    );
    assert!(
        wait_for_state(
            &prom,
            "AvailabilitySLOBudgetBurn",
            Some("firing"),
            Duration::from_secs(120)
        )
        .await,
        "AvailabilitySLOBudgetBurn never fired"
    );
    assert!(
        wait_for_state(
            &prom,
            "TargetDown",
            Some("firing"),
            Duration::from_secs(180)
        )
        .await,
        "TargetDown never fired"
    );
    assert!(
        wait_for_state(
            &prom,
            "HighErrorRate",
            Some("firing"),
            Duration::from_secs(180)
        )
        .await,
        "HighErrorRate never fired"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while webhook
        .alerts("AvailabilitySLOBudgetBurn", "firing")
        .is_empty()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let received = webhook.alerts("AvailabilitySLOBudgetBurn", "firing");
    assert!(!received.is_empty(), "the webhook never got the page");
    let labels = &received[0]["labels"];
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["slo"], "availability");
    assert_eq!(labels["job"], "todo-backend");
    assert_eq!(labels["service"], "todo-backend");
    assert!(
        received[0]["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("RUNBOOK.md#availabilityslobudgetburn")
    );
    // One incident, one page: in Alertmanager the burn page is the only critical alert left
    // active; HighErrorRate is there but muted by it; the stopped backend is a ticket.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_alertmanager: Value = reqwest::get(format!("{}/api/v2/alerts", alertmanager.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = |name: &str| -> BTreeSet<String> {
        in_alertmanager
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .map(|a| a["status"]["state"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let pages: Vec<String> = in_alertmanager
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["severity"] == "critical" && a["status"]["state"] == "active")
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pages, ["AvailabilitySLOBudgetBurn"], "{in_alertmanager}");
    assert_eq!(
        state("HighErrorRate"),
        BTreeSet::from(["suppressed".to_owned()])
    );
    assert_eq!(state("TargetDown"), BTreeSet::from(["active".to_owned()]));
    assert!(
        webhook.alerts("HighErrorRate", "firing").is_empty(),
        "a muted alert was notified"
    );
    assert!(
        !webhook.alerts("Watchdog", "firing").is_empty(),
        "the dead man's switch never arrived"
    );

    // Clear the faults, bring the instance back, and outweigh the errors with healthy traffic.
    for (_, port) in &stack.backends[..2] {
        chaos(&client, *port, None).await;
    }
    stack.restart_backend(2).await;
    let busy = Traffic::start(&stack.url, 16, Duration::from_millis(0)).await;
    assert!(
        wait_for_state(&prom, "TargetDown", None, Duration::from_secs(60)).await,
        "TargetDown did not resolve"
    );
    assert!(
        wait_for_state(&prom, "HighErrorRate", None, Duration::from_secs(240)).await,
        "HighErrorRate did not resolve"
    );
    let answered = busy.stop().await + traffic.stop().await;
    assert!(
        answered > 1000,
        "traffic actually flowed: {answered} requests answered"
    );
}
