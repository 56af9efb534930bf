//! The journey and the comparison behind `tests/golden_*.rs`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obs_testkit::OtlpCollector;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use todo_backend::chaos::ChaosSettings;
use todo_backend::config::Config;

pub(crate) fn config(database_url: String, redis_url: Option<String>) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        redis_url,
        instance_id: Some("golden-1".into()),
        session_ttl: Duration::from_secs(3600),
        business_metrics_interval: Duration::from_secs(3600),
        chaos_token: Some("chaos-token".into()),
        chaos: ChaosSettings::default(),
        db_max_connections: 2,
        instrumentation_off: false,
        limits: Default::default(),
        frontend: Default::default(),
    }
}

/// Runs the journey against a service on `config`, then stops it and closes its pool so that
/// every span it opened has ended. Returns the last scrape of its `/metrics`.
pub(crate) async fn journey(config: Config, telemetry: &obs_core::Telemetry) -> String {
    let app = todo_backend::build(&config, telemetry).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app.router.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
    });
    let client = Client::new();
    let call =
        |method: &str, path: &str| client.request(method.parse().unwrap(), format!("{base}{path}"));
    let expect = async |request: reqwest::RequestBuilder, status: StatusCode| -> Value {
        let response = request.send().await.unwrap();
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };

    expect(call("GET", "/health"), StatusCode::OK).await;
    expect(call("GET", "/ready"), StatusCode::OK).await;
    expect(call("GET", "/"), StatusCode::OK).await;
    expect(call("GET", "/app.js"), StatusCode::OK).await;
    let credentials = json!({"email": "golden@example.com", "password": "password123"});
    let mut signup = credentials.clone();
    signup["name"] = "Golden".into();
    expect(
        call("POST", "/api/auth/signup").json(&signup),
        StatusCode::CREATED,
    )
    .await;
    let login = expect(
        call("POST", "/api/auth/login").json(&credentials),
        StatusCode::OK,
    )
    .await;
    let token = login["token"].as_str().unwrap().to_owned();
    expect(
        call("POST", "/api/auth/login")
            .json(&json!({"email": "golden@example.com", "password": "wrong-password"})),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect(
        call("GET", "/api/auth/me").bearer_auth(&token),
        StatusCode::OK,
    )
    .await;
    let todo = expect(
        call("POST", "/api/todos")
            .bearer_auth(&token)
            .json(&json!({"title": "pin the exposition", "priority": "high"})),
        StatusCode::CREATED,
    )
    .await;
    let id = todo["id"].as_i64().unwrap();
    expect(
        call("GET", "/api/todos?limit=5").bearer_auth(&token),
        StatusCode::OK,
    )
    .await;
    expect(
        call("GET", &format!("/api/todos/{id}")).bearer_auth(&token),
        StatusCode::OK,
    )
    .await;
    expect(
        call("PATCH", &format!("/api/todos/{id}"))
            .bearer_auth(&token)
            .json(&json!({"status": "done"})),
        StatusCode::OK,
    )
    .await;
    expect(
        call("DELETE", &format!("/api/todos/{id}")).bearer_auth(&token),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect(
        call("GET", &format!("/api/todos/{id}")).bearer_auth(&token),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect(
        call("POST", "/api/todos")
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect(call("GET", "/api/todos"), StatusCode::UNAUTHORIZED).await;
    expect(call("GET", "/nope"), StatusCode::NOT_FOUND).await;
    expect(
        call("DELETE", "/api/auth/me"),
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    expect(
        call("POST", "/api/ws/ticket").bearer_auth(&token),
        StatusCode::OK,
    )
    .await;
    expect(
        call("POST", "/faro/collect").json(&faro_batch()),
        StatusCode::ACCEPTED,
    )
    .await;
    expect(
        call("POST", "/faro/collect")
            .header("content-type", "application/json")
            .body("{"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    expect(
        call("POST", "/api/auth/logout").bearer_auth(&token),
        StatusCode::NO_CONTENT,
    )
    .await;
    let exposition = call("GET", "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Every connection closed, so every server span has ended.
    drop(client);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // SQLite's connection threads hold the span of the last query they ran (and so its
    // request's span) until their next command: closing the pool ends them.
    match &app.state.db {
        todo_backend::db::Db::Sqlite(pool) => pool.inner().close().await,
        todo_backend::db::Db::Postgres(pool) => pool.inner().close().await,
    }
    exposition
}

/// One page load's worth of browser data: web vitals, an event and an exception.
fn faro_batch() -> Value {
    let timestamp = "2026-01-01T00:00:00.000Z";
    json!({
        "meta": {
            "sdk": {"name": "@grafana/faro-web-sdk", "version": "2.12.1"},
            "app": {"name": "todo-frontend", "version": "0.1.0"},
            "session": {"id": "session-golden", "attributes": {"isSampled": "true"}},
            "page": {"id": "page-golden", "url": "http://localhost/"},
            "browser": {"name": "Chrome", "version": "140", "os": "Linux", "mobile": false},
        },
        "measurements": [
            {"type": "web-vitals", "values": {"lcp": 1200.0, "delta": 1200.0}, "timestamp": timestamp,
             "context": {"rating": "good", "id": "lcp-1", "navigation_type": "navigate"}},
            {"type": "web-vitals", "values": {"cls": 0.3, "delta": 0.3}, "timestamp": timestamp,
             "context": {"rating": "poor", "id": "cls-1", "navigation_type": "navigate"}},
        ],
        "events": [
            {"name": "todo_created", "domain": "browser", "attributes": {"priority": "high"}, "timestamp": timestamp},
        ],
        "exceptions": [{
            "type": "Error",
            "value": "deliberate error from the todo page",
            "timestamp": timestamp,
            "stacktrace": {"frames": [
                {"filename": "http://localhost/app.js", "function": "throwDeliberateError", "lineno": 171, "colno": 9},
            ]},
        }],
    })
}

/// The exposition without sample values: `# HELP`, `# TYPE` and one line per series, as the
/// registry wrote them. No label the example exports varies between machines or runs (no
/// ports, hosts or commits), so series lines are kept whole; that is what this file pins.
pub(crate) fn shape_of_exposition(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('#') {
            out.push_str(line);
        } else {
            // The value is the last field: the registry writes no timestamps, and a space
            // inside a label value comes before it.
            out.push_str(line.rsplit_once(' ').map_or(line, |(series, _)| series));
        }
        out.push('\n');
    }
    out
}

/// One line per distinct (name, kind, status, attribute keys) of the spans received, sorted.
pub(crate) fn shape_of_spans(spans: &[obs_testkit::ReceivedSpan]) -> String {
    let shapes: BTreeSet<String> = spans
        .iter()
        .map(|span| {
            let mut keys: Vec<&str> = span
                .span
                .attributes
                .iter()
                .map(|kv| kv.key.as_str())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            format!(
                "{} kind={} status={} [{}]",
                span.name(),
                span.kind(),
                span.status_code(),
                keys.join(" ")
            )
        })
        .collect();
    shapes.into_iter().map(|line| line + "\n").collect()
}

pub(crate) fn compare(file: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(file);
    if std::env::var_os("OBS_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; OBS_UPDATE_GOLDEN=1 writes it", path.display()));
    if expected != actual {
        let expected: BTreeSet<&str> = expected.lines().collect();
        let actual: BTreeSet<&str> = actual.lines().collect();
        let gone: Vec<&&str> = expected.difference(&actual).collect();
        let new: Vec<&&str> = actual.difference(&expected).collect();
        panic!(
            "{file} changed (order or content).\nno longer present:\n{gone:#?}\nnew:\n{new:#?}\n\
             If deliberate: OBS_UPDATE_GOLDEN=1 and review the diff."
        );
    }
}

/// The service's telemetry, installed globally and exporting to `collector`.
pub(crate) async fn telemetry(collector: &OtlpCollector) -> obs_core::Telemetry {
    obs_core::Telemetry::builder("todo-golden")
        .service_version("0.0.0-golden")
        .instance_id("golden-1")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .init()
        .unwrap()
}

/// Flushes the spans and compares `{name}.metrics` and `{name}.spans`.
pub(crate) async fn finish(
    name: &str,
    telemetry: obs_core::Telemetry,
    collector: &OtlpCollector,
    exposition: &str,
) {
    // Shutdown blocks while it flushes to the collector, which runs on this runtime.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    compare(&format!("{name}.metrics"), &shape_of_exposition(exposition));
    compare(
        &format!("{name}.spans"),
        &shape_of_spans(&collector.spans()),
    );
    // The service's whole scrape, obs's families and the example's own, passes promtool's lint.
    if let Err(lint) = obs_testkit::promtool_check_metrics(exposition).await {
        panic!("promtool check metrics on the {name} scrape:\n{lint}");
    }
}
