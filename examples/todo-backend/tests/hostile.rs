//! The real binary against hostile clients: spoofed `X-Forwarded-For`, a signup burst (peak
//! RSS read from /proc), a websocket outliving its session, `/ready` leaking error text, a
//! client trickling headers, and SIGTERM with requests that never finish.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use obs_testkit::{Exposition, PgDatabase, unique};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service binary on a free port, killed on drop; its output in a file.
struct Backend {
    child: Child,
    base: String,
    port: u16,
    log: std::path::PathBuf,
}

impl Backend {
    async fn start(env: &[(&str, &str)]) -> Backend {
        let port = free_port();
        let dir = std::env::temp_dir().join(unique("todo-hostile"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("out.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut vars: BTreeMap<&str, String> = BTreeMap::from([
            ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ("DATA_DIR", dir.display().to_string()),
            ("OBS_LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("OTEL_SDK_DISABLED", "true".to_owned()),
        ]);
        for (k, v) in env {
            vars.insert(k, (*v).to_owned());
        }
        let child = Command::new(env!("CARGO_BIN_EXE_todo-backend"))
            .env_clear()
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let backend = Backend {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
            log,
        };
        let client = Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/health", backend.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not start:\n{}",
                backend.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        backend
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// The sample `name` with exactly `labels` in `/metrics`.
    async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let text = reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Exposition::parse(&text).unwrap().value(name, labels)
    }

    async fn signup(&self, client: &Client) -> String {
        let res = client
            .post(format!("{}/api/auth/signup", self.base))
            .json(&json!({"email": unique("u") + "@example.com", "password": "password123", "name": "T"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

/// Logins from `forwarded` addresses (one request each, unknown accounts), counted by status.
async fn logins(backend: &Backend, forwarded: &[String]) -> BTreeMap<u16, usize> {
    let client = Client::new();
    let mut counts = BTreeMap::new();
    for xff in forwarded {
        let res = client
            .post(format!("{}/api/auth/login", backend.base))
            .header("x-forwarded-for", xff)
            .json(&json!({"email": unique("nobody") + "@example.com", "password": "password123"}))
            .send()
            .await
            .unwrap();
        *counts.entry(res.status().as_u16()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_forwarded_for_is_limited_and_trusted_proxies_are_believed() {
    // Reached directly, no proxy trusted: 25 logins claiming 25 addresses are one client.
    let direct = Backend::start(&[("LOGIN_LIMIT_PER_CLIENT", "20")]).await;
    let spoofed: Vec<String> = (0..25).map(|i| format!("198.51.100.{i}")).collect();
    let counts = logins(&direct, &spoofed).await;
    assert_eq!(counts, BTreeMap::from([(401, 20), (429, 5)]));
    assert_eq!(
        direct
            .metric("todo_logins_total", &[("result", "rate_limited")])
            .await,
        Some(5.0)
    );

    // Behind a trusted proxy (the test is the proxy, 127.0.0.1): the forwarded address is the
    // client. 25 different clients are not limited; one client is, after 20.
    let proxied = Backend::start(&[
        ("LOGIN_LIMIT_PER_CLIENT", "20"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let counts = logins(&proxied, &spoofed).await;
    assert_eq!(counts, BTreeMap::from([(401, 25)]));
    // The client spoofs a leftmost entry; the proxy appended the real address on the right.
    let one: Vec<String> = (0..21)
        .map(|i| format!("10.{i}.0.1, 203.0.113.7"))
        .collect();
    let counts = logins(&proxied, &one).await;
    assert_eq!(counts, BTreeMap::from([(401, 20), (429, 1)]));
}

/// The process's peak resident set (VmHWM) in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// What the signup burst may take at most: the default hashing budget (6 × 19 MiB) plus the
/// process at rest, with room for allocator slack.
const BURST_PEAK_RSS_MIB: u64 = 192;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_200_signups_stays_within_the_memory_bound() {
    // Signups per client are raised so that all 200 reach password hashing.
    let backend = Backend::start(&[("SIGNUP_LIMIT_PER_CLIENT", "150")]).await;
    let before = peak_rss_kib(backend.pid());
    let client = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        let url = format!("{}/api/auth/signup", backend.base);
        // A few repeat an email: 409 is a valid answer too.
        let email = if i % 50 == 49 {
            "twice@example.com".to_owned()
        } else {
            unique("burst") + "@example.com"
        };
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({"email": email, "password": "password123", "name": "B"}))
                .send()
                .await
                .unwrap();
            let retry_after = res
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (res.status().as_u16(), retry_after)
        }));
    }
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for task in tasks {
        let (status, retry_after) = task.await.unwrap();
        assert!(
            matches!(status, 201 | 409 | 429 | 503),
            "unexpected status {status}"
        );
        if matches!(status, 429 | 503) {
            assert!(retry_after.is_some(), "{status} without Retry-After");
        }
        *counts.entry(status).or_insert(0) += 1;
    }
    let peak = peak_rss_kib(backend.pid());
    eprintln!(
        "signup burst: {counts:?}, peak RSS {} MiB (at rest {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert_eq!(counts.values().sum::<usize>(), 200);
    // The signup limit answers the 51st and later of the 200 with 429.
    assert_eq!(counts.get(&429).copied().unwrap_or(0), 50);
    assert!(counts.get(&201).copied().unwrap_or(0) >= 6, "{counts:?}");
    assert!(
        peak / 1024 < BURST_PEAK_RSS_MIB,
        "peak RSS {} MiB over the {BURST_PEAK_RSS_MIB} MiB bound ({counts:?})",
        peak / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_its_session_is_logged_out() {
    let backend = Backend::start(&[]).await;
    let client = Client::new();
    let token = backend.signup(&client).await;
    let ws_base = backend.base.replace("http", "ws");

    // The session token is not accepted in the URL.
    for query in [format!("?token={token}"), format!("?ticket={token}")] {
        match tokio_tungstenite::connect_async(format!("{ws_base}/api/ws{query}")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401);
            }
            other => panic!("handshake with the session token in the URL: {other:?}"),
        }
    }

    let ticket: Value = client
        .post(format!("{}/api/ws/ticket", backend.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ticket["expires_in"], 30);
    let url = format!(
        "{ws_base}/api/ws?ticket={}",
        ticket["ticket"].as_str().unwrap()
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(backend.metric("todo_ws_connections", &[]).await, Some(1.0));

    let res = client
        .post(format!("{}/api/auth/logout", backend.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let logged_out = Instant::now();
    let message = tokio::time::timeout(Duration::from_secs(2), socket.next())
        .await
        .expect("the socket is closed within 2 s of the logout")
        .unwrap()
        .unwrap();
    match message {
        tokio_tungstenite::tungstenite::Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "session ended");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    eprintln!(
        "closed {} ms after logout",
        logged_out.elapsed().as_millis()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(backend.metric("todo_ws_connections", &[]).await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_names_dependencies_without_error_text() {
    let Some(database) = PgDatabase::create("todo_ready").await else {
        return;
    };
    let (name, url) = (database.name(), database.url());
    let backend = Backend::start(&[("DATABASE_URL", url)]).await;
    let ready = |base: String| async move {
        let res = reqwest::get(format!("{base}/ready")).await.unwrap();
        (res.status(), res.text().await.unwrap())
    };
    let (status, body) = ready(backend.base.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "ready", "database": "ok", "redis": "not configured"})
    );

    // The database disappears under the running service.
    database.drop_now().await.unwrap();
    let (status, body) = ready(backend.base.clone()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"status": "unavailable", "database": "unavailable", "redis": "not configured"}),
        "{body}"
    );
    assert!(!body.contains(name), "{body}");
    // The detail is in the log.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = backend.output();
    let line = log
        .lines()
        .find(|l| l.contains("readiness: database unavailable"))
        .unwrap_or_else(|| panic!("no readiness log line:\n{log}"));
    assert!(line.contains(name), "{line}");
}

/// Sends a request head one byte per `pace`, until the server closes the connection; returns
/// how long that took.
async fn trickle(port: u16, pace: Duration, give_up: Duration) -> Option<Duration> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let started = Instant::now();
    let head = b"GET /api/todos HTTP/1.1\r\nHost: localhost\r\nX-Padding: ";
    let mut i = 0usize;
    let mut buf = [0u8; 512];
    while started.elapsed() < give_up {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if stream.write_all(&[byte]).await.is_err() {
            return Some(started.elapsed());
        }
        i += 1;
        match tokio::time::timeout(pace, stream.read(&mut buf)).await {
            // Closed (or answered 408 and closed).
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_headers_is_disconnected() {
    let backend = Backend::start(&[("HEADER_READ_TIMEOUT_SECONDS", "2")]).await;
    let took = trickle(
        backend.port,
        Duration::from_millis(200),
        Duration::from_secs(10),
    )
    .await
    .expect("the connection is closed within 10 s");
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_deadline_and_flushes_telemetry() {
    let collector = obs_testkit::OtlpCollector::start_grpc().await;
    let loki = obs_testkit::LokiReceiver::start().await;
    let endpoint = collector.endpoint();
    let loki_url = loki.url();
    let backend = Backend::start(&[
        ("OTEL_SDK_DISABLED", "false"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("LOKI_URL", &loki_url),
        ("SHUTDOWN_TIMEOUT_SECONDS", "3"),
        ("HEADER_READ_TIMEOUT_SECONDS", "60"),
        // Every API request takes 30 s: it is still running at the deadline.
        ("CHAOS_LATENCY_MS", "30000"),
    ])
    .await;
    let client = Client::new();
    // A request that finished: its span must reach the collector.
    let res = client
        .get(format!("{}/ready", backend.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A request that will not finish, and a client trickling its headers.
    let slow = tokio::spawn(
        client
            .get(format!("{}/api/todos", backend.base))
            .timeout(Duration::from_secs(60))
            .send(),
    );
    let trickler = tokio::spawn(trickle(
        backend.port,
        Duration::from_millis(300),
        Duration::from_secs(60),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pid = backend.pid();
    let mut backend = backend;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(15), backend.child.wait())
        .await
        .expect("the process exits")
        .unwrap();
    let took = signalled.elapsed();
    eprintln!("exited {} ms after SIGTERM", took.as_millis());
    assert!(exit.success(), "{exit:?}\n{}", backend.output());
    // The deadline (3 s) + 2 s.
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    assert!(took >= Duration::from_millis(2900), "exited after {took:?}");
    // The slow request and the trickler were cut off.
    assert!(slow.await.unwrap().is_err());
    assert!(trickler.await.unwrap().is_some());

    // Flushed before exit: the span of the finished request, and the last log lines.
    let spans = collector.spans();
    assert!(
        spans.iter().any(|s| s.name() == "GET /ready"),
        "spans: {:?}",
        spans
            .iter()
            .map(|s| s.name().to_owned())
            .collect::<Vec<_>>()
    );
    let lines: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
    let deadline_line = lines
        .iter()
        .find(|l| l.contains("shutdown deadline passed; dropping open connections"))
        .unwrap_or_else(|| panic!("no deadline line in Loki: {lines:#?}"));
    assert!(
        deadline_line.contains("\"open_connections\":2"),
        "{deadline_line}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"shut down\"")),
        "no final line in Loki: {lines:#?}"
    );
}
