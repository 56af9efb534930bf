//! The API journey on SQLite and on PostgreSQL + Redis, the metrics it leaves behind, the
//! websocket, rate limits and fault injection, against the real service on a local port.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use todo_backend::chaos::ChaosSettings;
use todo_backend::config::Config;

struct Service {
    base: String,
    client: Client,
    _app: todo_backend::App,
    _telemetry: obs_core::Telemetry,
    _cleanup: Option<PgDatabase>,
}

fn config(database_url: String, redis_url: Option<String>) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url,
        redis_url,
        instance_id: Some("test-1".into()),
        session_ttl: Duration::from_secs(3600),
        business_metrics_interval: Duration::from_secs(3600),
        chaos_token: Some("chaos-token".into()),
        chaos: ChaosSettings::default(),
        db_max_connections: 5,
        instrumentation_off: false,
        limits: Default::default(),
        frontend: Default::default(),
    }
}

async fn start(config: Config, cleanup: Option<PgDatabase>) -> Service {
    let telemetry = obs_core::Telemetry::builder("todo-test")
        .instance_id(config.instance_id.clone().unwrap_or_default())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    let app = todo_backend::build(&config, &telemetry).await.unwrap();
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Service {
        base: format!("http://{addr}"),
        client: Client::new(),
        _app: app,
        _telemetry: telemetry,
        _cleanup: cleanup,
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

async fn sqlite_service() -> Service {
    let dir = std::env::temp_dir().join(unique("todo-sqlite"));
    let url = format!("sqlite://{}?mode=rwc", dir.join("todo.db").display());
    start(config(url, None), None).await
}

/// A database of its own on the local PostgreSQL, dropped afterwards.
struct PgDatabase {
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort: a leftover test database is harmless.
        let _ = std::process::Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .output();
    }
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Each test gets its own Redis database: user ids restart at 1 in every test's PostgreSQL
/// database, so a shared Redis would serve one test's cached profiles to another.
async fn postgres_redis_service(redis_db: u8) -> Option<Service> {
    let redis_url = format!("redis://127.0.0.1:6379/{redis_db}");
    use sqlx::Connection;
    let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN).await else {
        obs_testkit::require("PostgreSQL is not answering on 127.0.0.1:5432");
        return None;
    };
    let Ok(redis) = redis::Client::open(redis_url.as_str()) else {
        obs_testkit::require("bad Redis URL");
        return None;
    };
    let Ok(mut conn) = redis.get_multiplexed_async_connection().await else {
        obs_testkit::require("Redis is not answering on 127.0.0.1:6379");
        return None;
    };
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
    let name = unique("todo_api").replace('-', "_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    Some(start(config(url, Some(redis_url)), Some(PgDatabase { name })).await)
}

impl Service {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    async fn raw(&self, method: &str, path: &str, body: &'static str) -> (StatusCode, Value) {
        let res = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn signup(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/auth/signup",
                None,
                Some(json!({"email": email, "password": "password123", "name": "Test User"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The value of the first sample whose line contains every fragment.
fn metric(text: &str, fragments: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| fragments.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

async fn journey(svc: &Service, db_system: &str) {
    let alice = unique("alice") + "@example.com";
    let bob = unique("bob") + "@example.com";

    // Sign up, and every way sign-up input can be wrong.
    let token = svc.signup(&alice).await;
    let (s, b) = svc
        .call(
            "POST",
            "/api/auth/signup",
            None,
            Some(json!({"email": alice, "password": "password123", "name": "Again"})),
        )
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (s, b) = svc
        .call(
            "POST",
            "/api/auth/signup",
            None,
            Some(json!({"email": "nope", "password": "password123", "name": "X"})),
        )
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (s, _) = svc
        .call(
            "POST",
            "/api/auth/signup",
            None,
            Some(json!({"email": "x@y.zz", "password": "short", "name": "X"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, b) = svc.raw("POST", "/api/auth/signup", "{not json").await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (s, b) = svc
        .raw("POST", "/api/auth/signup", r#"{"email":"x@y.zz"}"#)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{b}"
    );

    // Log in.
    let (s, b) = svc
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": alice, "password": "wrong-password"})),
        )
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNAUTHORIZED, "bad_credentials")
    );
    let (s, b) = svc
        .call(
            "POST",
            "/api/auth/login",
            None,
            Some(json!({"email": alice.to_uppercase(), "password": "password123"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let login_token = b["token"].as_str().unwrap().to_owned();
    assert_ne!(login_token, token);

    let (s, b) = svc
        .call("GET", "/api/auth/me", Some(&login_token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["user"]["email"], alice.as_str());
    assert!(b["user"].get("password_hash").is_none());
    let (s, _) = svc.call("GET", "/api/auth/me", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = svc.call("GET", "/api/auth/me", Some("forged"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Create, with validation.
    let mut ids = Vec::new();
    for (title, priority) in [
        ("write docs", "high"),
        ("review", "low"),
        ("ship", "medium"),
    ] {
        let (s, b) = svc
            .call(
                "POST",
                "/api/todos",
                Some(&token),
                Some(json!({"title": title, "priority": priority, "description": "d"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["status"], "todo");
        ids.push(b["id"].as_i64().unwrap());
    }
    let (s, _) = svc
        .call(
            "POST",
            "/api/todos",
            Some(&token),
            Some(json!({"title": "x", "priority": "urgent"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = svc
        .call(
            "POST",
            "/api/todos",
            Some(&token),
            Some(json!({"title": "x".repeat(201)})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = svc
        .call(
            "POST",
            "/api/todos",
            Some(&token),
            Some(json!({"title": "x", "colour": "red"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = svc
        .call("POST", "/api/todos", None, Some(json!({"title": "x"})))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // List, filter, paginate.
    let (_, b) = svc.call("GET", "/api/todos", Some(&token), None).await;
    assert_eq!(b["total"], 3);
    assert_eq!(b["items"][0]["title"], "ship", "newest first");
    let (_, b) = svc
        .call("GET", "/api/todos?limit=2&offset=1", Some(&token), None)
        .await;
    assert_eq!(
        (b["items"].as_array().unwrap().len(), b["total"].as_i64()),
        (2, Some(3))
    );
    let (s, _) = svc
        .call("GET", "/api/todos?status=someday", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = svc
        .call("GET", "/api/todos?limit=1000", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Update and complete; a bad change writes nothing.
    let first = ids[0];
    let (s, _) = svc
        .call(
            "PATCH",
            &format!("/api/todos/{first}"),
            Some(&token),
            Some(json!({"title": "new title", "status": "finished"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, b) = svc
        .call("GET", &format!("/api/todos/{first}"), Some(&token), None)
        .await;
    assert_eq!(b["title"], "write docs", "nothing half-written");
    let (s, b) = svc
        .call(
            "PATCH",
            &format!("/api/todos/{first}"),
            Some(&token),
            Some(json!({"status": "done"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "done");
    assert!(b["completed_at"].is_string());
    let (_, b) = svc
        .call("GET", "/api/todos?status=done", Some(&token), None)
        .await;
    assert_eq!(b["total"], 1);

    // Another user sees none of it: 404, never 403.
    let bob_token = svc.signup(&bob).await;
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"title": "mine"}))),
        ("DELETE", None),
    ] {
        let (s, b) = svc
            .call(
                method,
                &format!("/api/todos/{first}"),
                Some(&bob_token),
                body,
            )
            .await;
        assert_eq!(
            (s, error_code(&b)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method}"
        );
    }
    let (_, b) = svc.call("GET", "/api/todos", Some(&bob_token), None).await;
    assert_eq!(b["total"], 0);
    let (s, _) = svc
        .call("GET", "/api/todos/not-a-number", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Delete, log out.
    let (s, _) = svc
        .call(
            "DELETE",
            &format!("/api/todos/{}", ids[1]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = svc
        .call("GET", &format!("/api/todos/{}", ids[1]), Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = svc
        .call("POST", "/api/auth/logout", Some(&login_token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = svc
        .call("GET", "/api/auth/me", Some(&login_token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // What the journey left in /metrics.
    let text = svc.metrics().await;
    let http = "http_server_request_duration_seconds_count{";
    assert!(
        metric(
            &text,
            &[
                http,
                "http_route=\"/api/auth/signup\"",
                "http_response_status_code=\"201\""
            ]
        )
        .unwrap()
            >= 2.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            &[
                http,
                "http_route=\"/api/todos/{id}\"",
                "http_request_method=\"DELETE\"",
                "\"404\""
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            &[
                http,
                "http_route=\"/api/todos\"",
                "http_request_method=\"POST\"",
                "\"422\""
            ]
        ),
        Some(3.0)
    );
    assert!(
        !text.contains(&format!("/api/todos/{first}")),
        "raw paths never become labels"
    );
    let db = format!("db_system_name=\"{db_system}\"");
    assert!(
        metric(
            &text,
            &[
                "db_client_operation_duration_seconds_count{",
                &db,
                "db_operation_name=\"INSERT\"",
                "db_collection_name=\"todos\""
            ]
        )
        .unwrap()
            >= 3.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            &[
                "db_client_operation_duration_seconds_count{",
                &db,
                "db_operation_name=\"SELECT\"",
                "db_collection_name=\"users\""
            ]
        )
        .is_some()
    );
    assert!(
        metric(
            &text,
            &[
                "db_client_connections{",
                "db_client_connection_pool_name=\"main\""
            ]
        )
        .is_some()
    );
    assert_eq!(metric(&text, &["todo_signups_total "]), Some(2.0));
    assert_eq!(
        metric(&text, &["todo_logins_total{result=\"success\"}"]),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &["todo_logins_total{result=\"bad_credentials\"}"]),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &["todo_items_created_total{priority=\"high\"}"]),
        Some(1.0)
    );
    assert_eq!(metric(&text, &["todo_items_completed_total "]), Some(1.0));
    assert_eq!(
        metric(
            &text,
            &["obs_build_info{", "service_instance_id=\"test-1\""]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_sqlite() {
    let svc = sqlite_service().await;
    journey(&svc, "sqlite").await;
    let text = svc.metrics().await;
    assert!(
        !text.contains("db_system_name=\"redis\""),
        "no Redis configured"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_on_postgres_and_redis() {
    let Some(svc) = postgres_redis_service(10).await else {
        return;
    };
    journey(&svc, "postgresql").await;
    let text = svc.metrics().await;
    // Sessions and profile cache (GET, SETEX), session create/revoke (PIPELINE), login rate
    // limit (MULTI), live events (PUBLISH).
    for op in ["GET", "SETEX", "PIPELINE", "MULTI", "PUBLISH"] {
        let count = metric(
            &text,
            &[
                "db_client_operation_duration_seconds_count{",
                "db_system_name=\"redis\"",
                &format!("db_operation_name=\"{op}\""),
                "error_type=\"\"",
            ],
        );
        assert!(count.unwrap_or(0.0) >= 1.0, "redis {op}: {text}");
    }
}

async fn websocket_receives_changes(svc: &Service) {
    let token = svc.signup(&(unique("ws") + "@example.com")).await;
    let (s, b) = svc.call("POST", "/api/ws/ticket", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let ticket = b["ticket"].as_str().unwrap();
    let url = format!("{}/api/ws?ticket={ticket}", svc.base.replace("http", "ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Give the subscription a moment to be in place (Redis pub/sub is asynchronous).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, b) = svc
        .call(
            "POST",
            "/api/todos",
            Some(&token),
            Some(json!({"title": "live!"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .unwrap();
    let event: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(event["kind"], "created");
    assert_eq!(event["todo"]["title"], "live!");
    assert!(event.get("user_id").is_none());
    let text = svc.metrics().await;
    assert_eq!(metric(&text, &["todo_ws_connections "]), Some(1.0));
    assert!(metric(&text, &["todo_ws_messages_total{direction=\"out\"}"]).unwrap() >= 1.0);

    // A handshake without a ticket, with a forged one, with the used one, or with the session
    // token itself, is refused with 401.
    let used = format!("?ticket={ticket}");
    let token_query = format!("?ticket={token}");
    for query in [
        "",
        "?ticket=forged",
        &used,
        &token_query,
        &format!("?token={token}"),
    ] {
        let url = format!("{}/api/ws{query}", svc.base.replace("http", "ws"));
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401);
            }
            other => panic!("handshake without a valid token: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_on_sqlite() {
    websocket_receives_changes(&sqlite_service().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_through_redis_pubsub() {
    let Some(svc) = postgres_redis_service(11).await else {
        return;
    };
    websocket_receives_changes(&svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rate_limit_per_account() {
    let svc = sqlite_service().await;
    let email = unique("limited") + "@example.com";
    svc.signup(&email).await;
    let mut limited = None;
    for _ in 0..12 {
        let res = svc
            .client
            .post(format!("{}/api/auth/login", svc.base))
            .json(&json!({"email": email, "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            break;
        }
    }
    let retry: u64 = limited
        .expect("the 11th attempt is limited")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let text = svc.metrics().await;
    assert_eq!(
        metric(&text, &["todo_logins_total{result=\"rate_limited\"}"]),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, &["todo_logins_total{result=\"bad_credentials\"}"]),
        Some(10.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_makes_real_errors() {
    let svc = sqlite_service().await;
    let token = svc.signup(&(unique("chaos") + "@example.com")).await;
    let (s, _) = svc.call("GET", "/admin/chaos", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, b) = svc
        .call(
            "PUT",
            "/admin/chaos",
            Some("chaos-token"),
            Some(json!({"route": "/api/todos", "error_rate": 1.0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["routes"]["/api/todos"]["error_rate"], 1.0);
    let (s, b) = svc.call("GET", "/api/todos", Some(&token), None).await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::INTERNAL_SERVER_ERROR, "injected_fault")
    );
    let (s, _) = svc.call("GET", "/api/auth/me", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK, "other routes unaffected");
    let (s, _) = svc
        .call(
            "PUT",
            "/admin/chaos",
            Some("chaos-token"),
            Some(json!({"error_rate": 2.0})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = svc
        .call("DELETE", "/admin/chaos", Some("chaos-token"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = svc.call("GET", "/api/todos", Some(&token), None).await;
    assert_eq!(s, StatusCode::OK);

    let text = svc.metrics().await;
    assert_eq!(
        metric(
            &text,
            &[
                "http_server_request_duration_seconds_count{",
                "error_type=\"500\"",
                "http_route=\"/api/todos\""
            ]
        ),
        Some(1.0),
        "{text}"
    );
}

/// The `db_client_operation_duration_seconds` figures of table-less `SELECT`s on PostgreSQL:
/// (count, count at or under 0.1 s, sum).
fn tableless_selects(text: &str) -> (f64, f64, f64) {
    let series = [
        "db_collection_name=\"\"",
        "db_operation_name=\"SELECT\"",
        "db_system_name=\"postgresql\"",
        "error_type=\"\"",
    ];
    let figure = |name: &str, extra: &[&str]| {
        let mut fragments = vec![name];
        fragments.extend(series);
        fragments.extend(extra);
        metric(text, &fragments).unwrap_or(0.0)
    };
    (
        figure("db_client_operation_duration_seconds_count{", &[]),
        figure(
            "db_client_operation_duration_seconds_bucket{",
            &["le=\"0.1\""],
        ),
        figure("db_client_operation_duration_seconds_sum{", &[]),
    )
}

/// A slow-query fault of 200 ms runs `SELECT pg_sleep(0.2)` before the route's own queries:
/// the request takes at least 200 ms, and the database metric records one more table-less
/// `SELECT` that took over 0.1 s and at least 0.2 s. (PostgreSQL: SQLite's stand-in only
/// approximates the time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_query_fault_takes_database_time() {
    let Some(svc) = postgres_redis_service(9).await else {
        return;
    };
    let token = svc.signup(&(unique("slow") + "@example.com")).await;
    let (s, b) = svc
        .call(
            "PUT",
            "/admin/chaos",
            Some("chaos-token"),
            Some(json!({"route": "/api/todos", "slow_query_ms": 200})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["routes"]["/api/todos"]["slow_query_ms"], 200);
    let (count, fast, sum) = tableless_selects(&svc.metrics().await);

    let started = std::time::Instant::now();
    let (s, b) = svc.call("GET", "/api/todos", Some(&token), None).await;
    let took = started.elapsed();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(took >= Duration::from_millis(200), "{took:?}");

    let text = svc.metrics().await;
    let (count_after, fast_after, sum_after) = tableless_selects(&text);
    assert_eq!(count_after, count + 1.0, "{text}");
    assert_eq!(
        fast_after, fast,
        "the slow query landed at or under 0.1 s: {text}"
    );
    assert!(sum_after - sum >= 0.2, "recorded {} s", sum_after - sum);
}
