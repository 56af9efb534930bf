//! The API journey on SQLite and on PostgreSQL + Redis, the metrics it leaves behind, the
//! websocket, rate limits and fault injection, against the real service on a local port.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use obs_testkit::{Exposition, PgDatabase, unique};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use todo_backend::chaos::ChaosSettings;
use todo_backend::config::Config;

struct Service {
    base: String,
    client: Client,
    _app: todo_backend::App,
    _telemetry: obs_core::Telemetry,
    _database: Option<PgDatabase>,
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

async fn start(config: Config, database: Option<PgDatabase>) -> Service {
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
        _database: database,
    }
}

async fn sqlite_service() -> Service {
    let dir = std::env::temp_dir().join(unique("todo-sqlite"));
    let url = format!("sqlite://{}?mode=rwc", dir.join("todo.db").display());
    start(config(url, None), None).await
}

/// The service on a PostgreSQL database and a Redis database of the test's own. Each test
/// takes its own Redis index: user ids restart at 1 in every test's PostgreSQL database, so a
/// shared Redis would serve one test's cached profiles to another.
async fn postgres_redis_service(redis_db: u8) -> Option<Service> {
    let redis_url = obs_testkit::fresh_redis_db(redis_db).await?;
    let database = PgDatabase::create("todo_api").await?;
    let url = database.url().to_owned();
    Some(start(config(url, Some(redis_url)), Some(database)).await)
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

    /// `/metrics`, parsed.
    async fn exposition(&self) -> Exposition {
        Exposition::parse(&self.metrics().await).unwrap()
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

const HTTP_REQUESTS: &str = "http_server_request_duration_seconds_count";
const DB_OPERATIONS: &str = "db_client_operation_duration_seconds_count";

/// Requests to `route` by `method` answered `status` (without an error type: under 500).
fn requests(m: &Exposition, method: &str, route: &str, status: &str) -> Option<f64> {
    m.value(
        HTTP_REQUESTS,
        &[
            ("error_type", ""),
            ("http_request_method", method),
            ("http_response_status_code", status),
            ("http_route", route),
        ],
    )
}

/// Successful operations `operation` on `collection` of database system `system`.
fn db_operations(m: &Exposition, system: &str, operation: &str, collection: &str) -> Option<f64> {
    m.value(
        DB_OPERATIONS,
        &[
            ("db_collection_name", collection),
            ("db_operation_name", operation),
            ("db_system_name", system),
            ("error_type", ""),
        ],
    )
}

/// Runs one step of a journey; when it fails, says which before the failure goes on.
async fn step<T>(name: &str, work: impl Future<Output = T>) -> T {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(value) => value,
        Err(panic) => {
            eprintln!("journey step failed: {name}");
            std::panic::resume_unwind(panic)
        }
    }
}

/// Who the journey signs up, and what they hold after each step.
struct Journey {
    alice: String,
    bob: String,
    /// Alice's session from sign-up.
    token: String,
    /// Alice's second session, from logging in.
    login_token: String,
    /// Alice's todos, oldest first.
    ids: Vec<i64>,
}

impl Journey {
    fn new() -> Self {
        Journey {
            alice: unique("alice") + "@example.com",
            bob: unique("bob") + "@example.com",
            token: String::new(),
            login_token: String::new(),
            ids: Vec::new(),
        }
    }

    /// Sign up, and every way sign-up input can be wrong.
    async fn signup(&mut self, svc: &Service) {
        self.token = svc.signup(&self.alice).await;
        let (s, b) = svc
            .call(
                "POST",
                "/api/auth/signup",
                None,
                Some(json!({"email": self.alice, "password": "password123", "name": "Again"})),
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
    }

    /// Log in (a wrong password first, then the email in capitals), read the session back,
    /// and be refused without or with a forged token.
    async fn login(&mut self, svc: &Service) {
        let (s, b) = svc
            .call(
                "POST",
                "/api/auth/login",
                None,
                Some(json!({"email": self.alice, "password": "wrong-password"})),
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
                Some(json!({"email": self.alice.to_uppercase(), "password": "password123"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        self.login_token = b["token"].as_str().unwrap().to_owned();
        assert_ne!(self.login_token, self.token);

        let (s, b) = svc
            .call("GET", "/api/auth/me", Some(&self.login_token), None)
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["user"]["email"], self.alice.as_str());
        assert!(b["user"].get("password_hash").is_none());
        let (s, _) = svc.call("GET", "/api/auth/me", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = svc.call("GET", "/api/auth/me", Some("forged"), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    /// Create three todos; invalid or unauthenticated creations are refused.
    async fn create(&mut self, svc: &Service) {
        let token = Some(self.token.as_str());
        for (title, priority) in [
            ("write docs", "high"),
            ("review", "low"),
            ("ship", "medium"),
        ] {
            let (s, b) = svc
                .call(
                    "POST",
                    "/api/todos",
                    token,
                    Some(json!({"title": title, "priority": priority, "description": "d"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            assert_eq!(b["status"], "todo");
            self.ids.push(b["id"].as_i64().unwrap());
        }
        for invalid in [
            json!({"title": "x", "priority": "urgent"}),
            json!({"title": "x".repeat(201)}),
            json!({"title": "x", "colour": "red"}),
        ] {
            let (s, _) = svc
                .call("POST", "/api/todos", token, Some(invalid.clone()))
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
        }
        let (s, _) = svc
            .call("POST", "/api/todos", None, Some(json!({"title": "x"})))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    /// List newest first, paginate, and refuse bad filters.
    async fn list(&self, svc: &Service) {
        let token = Some(self.token.as_str());
        let (_, b) = svc.call("GET", "/api/todos", token, None).await;
        assert_eq!(b["total"], 3);
        assert_eq!(b["items"][0]["title"], "ship", "newest first");
        let (_, b) = svc
            .call("GET", "/api/todos?limit=2&offset=1", token, None)
            .await;
        assert_eq!(
            (b["items"].as_array().unwrap().len(), b["total"].as_i64()),
            (2, Some(3))
        );
        let (s, _) = svc
            .call("GET", "/api/todos?status=someday", token, None)
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (s, _) = svc.call("GET", "/api/todos?limit=1000", token, None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    }

    /// Update and complete the first todo; a bad change writes nothing.
    async fn update(&self, svc: &Service) {
        let token = Some(self.token.as_str());
        let first = format!("/api/todos/{}", self.ids[0]);
        let (s, _) = svc
            .call(
                "PATCH",
                &first,
                token,
                Some(json!({"title": "new title", "status": "finished"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, b) = svc.call("GET", &first, token, None).await;
        assert_eq!(b["title"], "write docs", "nothing half-written");
        let (s, b) = svc
            .call("PATCH", &first, token, Some(json!({"status": "done"})))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["status"], "done");
        assert!(b["completed_at"].is_string());
        let (_, b) = svc.call("GET", "/api/todos?status=done", token, None).await;
        assert_eq!(b["total"], 1);
    }

    /// Another user sees none of it: 404, never 403. A path that is not an id is 404 too.
    async fn isolation(&self, svc: &Service) {
        let bob_token = svc.signup(&self.bob).await;
        let first = format!("/api/todos/{}", self.ids[0]);
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(json!({"title": "mine"}))),
            ("DELETE", None),
        ] {
            let (s, b) = svc.call(method, &first, Some(&bob_token), body).await;
            assert_eq!(
                (s, error_code(&b)),
                (StatusCode::NOT_FOUND, "not_found"),
                "{method}"
            );
        }
        let (_, b) = svc.call("GET", "/api/todos", Some(&bob_token), None).await;
        assert_eq!(b["total"], 0);
        let (s, _) = svc
            .call("GET", "/api/todos/not-a-number", Some(&self.token), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    /// Delete the second todo, then log the second session out.
    async fn delete_and_logout(&self, svc: &Service) {
        let second = format!("/api/todos/{}", self.ids[1]);
        let (s, _) = svc.call("DELETE", &second, Some(&self.token), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = svc.call("GET", &second, Some(&self.token), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = svc
            .call("POST", "/api/auth/logout", Some(&self.login_token), None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = svc
            .call("GET", "/api/auth/me", Some(&self.login_token), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    /// What the journey left in `/metrics`: HTTP series by route, database operations on
    /// `db_system`, the pool gauges, the business counters and the build info.
    async fn metrics(&self, svc: &Service, db_system: &str) {
        let text = svc.metrics().await;
        let m = Exposition::parse(&text).unwrap();
        assert!(
            requests(&m, "POST", "/api/auth/signup", "201").unwrap() >= 2.0,
            "{text}"
        );
        assert_eq!(
            requests(&m, "DELETE", "/api/todos/{id}", "404"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            requests(&m, "POST", "/api/todos", "422"),
            Some(3.0),
            "{text}"
        );
        assert!(
            !text.contains(&format!("/api/todos/{}", self.ids[0])),
            "raw paths never become labels"
        );
        assert!(
            db_operations(&m, db_system, "INSERT", "todos").unwrap() >= 3.0,
            "{text}"
        );
        assert!(
            db_operations(&m, db_system, "SELECT", "users").is_some(),
            "{text}"
        );
        for state in ["idle", "used"] {
            assert!(
                m.value(
                    "db_client_connections",
                    &[
                        ("db_client_connection_pool_name", "main"),
                        ("db_client_connection_state", state)
                    ]
                )
                .is_some(),
                "{state}: {text}"
            );
        }
        assert_eq!(m.value("todo_signups_total", &[]), Some(2.0));
        assert_eq!(
            m.value("todo_logins_total", &[("result", "success")]),
            Some(1.0)
        );
        assert_eq!(
            m.value("todo_logins_total", &[("result", "bad_credentials")]),
            Some(1.0)
        );
        assert_eq!(
            m.value("todo_items_created_total", &[("priority", "high")]),
            Some(1.0)
        );
        assert_eq!(m.value("todo_items_completed_total", &[]), Some(1.0));
        assert_eq!(
            m.value_matching("obs_build_info", &[("service_instance_id", "test-1")]),
            Some(1.0)
        );
    }
}

/// The API journey, step by step; a failure names its step.
async fn journey(svc: &Service, db_system: &str) {
    let mut journey = Journey::new();
    step("signup", journey.signup(svc)).await;
    step("login", journey.login(svc)).await;
    step("create", journey.create(svc)).await;
    step("list", journey.list(svc)).await;
    step("update", journey.update(svc)).await;
    step("isolation", journey.isolation(svc)).await;
    step("delete and logout", journey.delete_and_logout(svc)).await;
    step("metrics", journey.metrics(svc, db_system)).await;
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
    let m = Exposition::parse(&text).unwrap();
    // Sessions and profile cache (GET, SETEX), session create/revoke (PIPELINE), login rate
    // limit (MULTI), live events (PUBLISH).
    for op in ["GET", "SETEX", "PIPELINE", "MULTI", "PUBLISH"] {
        let count = db_operations(&m, "redis", op, "");
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
    let m = svc.exposition().await;
    assert_eq!(m.value("todo_ws_connections", &[]), Some(1.0));
    assert!(
        m.value("todo_ws_messages_total", &[("direction", "out")])
            .unwrap()
            >= 1.0
    );

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
    let m = svc.exposition().await;
    assert_eq!(
        m.value("todo_logins_total", &[("result", "rate_limited")]),
        Some(1.0)
    );
    assert_eq!(
        m.value("todo_logins_total", &[("result", "bad_credentials")]),
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
    let m = Exposition::parse(&text).unwrap();
    assert_eq!(
        m.value(
            HTTP_REQUESTS,
            &[
                ("error_type", "500"),
                ("http_request_method", "GET"),
                ("http_response_status_code", "500"),
                ("http_route", "/api/todos")
            ]
        ),
        Some(1.0),
        "{text}"
    );
}

/// The `db_client_operation_duration_seconds` figures of table-less `SELECT`s on PostgreSQL:
/// (count, count at or under 0.1 s, sum).
fn tableless_selects(text: &str) -> (f64, f64, f64) {
    let m = Exposition::parse(text).unwrap();
    let series = [
        ("db_collection_name", ""),
        ("db_operation_name", "SELECT"),
        ("db_system_name", "postgresql"),
        ("error_type", ""),
    ];
    let bucket = [&series[..], &[("le", "0.1")]].concat();
    (
        db_operations(&m, "postgresql", "SELECT", "").unwrap_or(0.0),
        m.value("db_client_operation_duration_seconds_bucket", &bucket)
            .unwrap_or(0.0),
        m.value("db_client_operation_duration_seconds_sum", &series)
            .unwrap_or(0.0),
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
