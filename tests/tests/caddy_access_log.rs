//! A page session through Caddy leaves no session token in Caddy's access log (the websocket
//! is opened with a single-use ticket), and the operator endpoints are not served on Caddy's
//! public port.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Duration;

use obs_e2e::{BackendOptions, Stack};
use obs_testkit::unique;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Opens a websocket on `path` through `base` by hand and returns the status line of the
/// handshake answer.
async fn websocket_handshake(base: &str, path: &str) -> String {
    let host = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_token_in_caddys_access_log_and_no_operator_endpoints() {
    let dir = std::env::temp_dir().join(unique("caddy-log"));
    std::fs::create_dir_all(&dir).unwrap();
    let options = BackendOptions {
        database_url: format!("sqlite://{}/todo.db?mode=rwc", dir.display()),
        chaos_token: Some("caddy-log-admin".into()),
        ..Default::default()
    };
    let Some(stack) = Stack::start(1, &options).await else {
        return;
    };
    let client = reqwest::Client::new();
    let base = &stack.url;

    // The page's calls: sign up, fetch, open the live socket, add a todo, log out.
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let email = format!("{}@example.com", unique("page"));
    let signup: Value = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"email": email, "password": "password123", "name": "Page"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    let me = client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let ticket: Value = client
        .post(format!("{base}/api/ws/ticket"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    let status = websocket_handshake(base, &format!("/api/ws?ticket={ticket}")).await;
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    // Single use: the logged ticket opens nothing.
    let status = websocket_handshake(base, &format!("/api/ws?ticket={ticket}")).await;
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    let created = client
        .post(format!("{base}/api/todos"))
        .bearer_auth(&token)
        .json(&json!({"title": "logged?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let logout = client
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    // Operator endpoints: not on the public port, whatever the method or token.
    for (method, path) in [
        ("GET", "/metrics"),
        ("GET", "/admin/chaos"),
        ("PUT", "/admin/chaos"),
        ("DELETE", "/admin/chaos"),
    ] {
        let res = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .bearer_auth("caddy-log-admin")
            .json(&json!({"error_rate": 1.0}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path} through Caddy");
    }
    // ...but on the backend itself (the internal network).
    let port = stack.backends[0].1;
    let direct = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);

    // Caddy writes its access log as JSON lines on stdout.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = stack.caddy.output();
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"http.log.access"))
        .collect();
    assert!(
        access.iter().any(|l| l.contains("/api/ws?ticket=")),
        "the websocket request is not in the access log:\n{log}"
    );
    assert!(
        access.iter().any(|l| l.contains("/api/auth/logout")),
        "{log}"
    );
    assert!(!log.contains(&token), "the session token is in Caddy's log");
    assert!(
        !log.contains("caddy-log-admin"),
        "the admin token is in Caddy's log"
    );
}
