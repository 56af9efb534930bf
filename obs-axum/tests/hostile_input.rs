//! Whatever a client sends, the server span's attributes and the log lines written inside it
//! stay within documented lengths, and `client.address` and `url.scheme` are believed only from
//! trusted proxies.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use obs_axum::{ObsLayer, TrustedProxies};
use obs_core::names::{MAX_REQUEST_ID_LEN, MAX_URL_PATH_LEN, MAX_USER_AGENT_LEN};
use obs_core::{LogFormat, Telemetry};
use obs_testkit::LogCapture;
use serde_json::Value;

/// The longest line one request may write here: the three client-controlled attributes at
/// their limits plus 1 KiB for everything of fixed size (timestamp, names, ids, service).
const LINE_BOUND: usize = MAX_URL_PATH_LEN + MAX_USER_AGENT_LEN + MAX_REQUEST_ID_LEN + 1024;

fn telemetry(logs: &LogCapture) -> Telemetry {
    Telemetry::builder("hostile")
        .instance_id("hostile-1")
        .log_format(LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap()
}

fn app(layer: ObsLayer) -> Router {
    Router::new()
        .route(
            "/{*rest}",
            get(|| async {
                tracing::info!("handled");
                "ok"
            }),
        )
        .layer(layer)
}

/// Sends `request` through `app`, returns the response's `x-request-id`.
async fn send(app: Router, telemetry: &Telemetry, request: http::Request<Body>) -> String {
    let headers = common::send_traced(&app, telemetry.dispatch(), request).await;
    headers["x-request-id"].to_str().unwrap().to_owned()
}

fn peer(addr: [u8; 4]) -> ConnectInfo<SocketAddr> {
    ConnectInfo(SocketAddr::from((addr, 40_000)))
}

#[tokio::test]
async fn a_64_kib_user_agent_does_not_make_a_long_log_line() {
    let logs = LogCapture::default();
    let telemetry = telemetry(&logs);
    let layer = ObsLayer::new(&telemetry).trusted_proxies("127.0.0.1".parse().unwrap());

    let huge = "x".repeat(64 * 1024);
    let mut request = http::Request::get(format!("/{}", "p".repeat(60_000)))
        .header("user-agent", &huge)
        .header("x-request-id", &huge)
        .header("x-forwarded-for", &huge)
        .body(Body::empty())
        .unwrap();
    request.extensions_mut().insert(peer([127, 0, 0, 1]));
    let echoed = send(app(layer), &telemetry, request).await;

    let lines = logs.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    for line in &lines {
        assert!(
            line.len() < LINE_BOUND,
            "a {} byte line, bound {LINE_BOUND}",
            line.len()
        );
    }
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["message"], "handled");
    let span = &line["span"];
    assert_eq!(
        span["user_agent.original"],
        format!("{}…", "x".repeat(MAX_USER_AGENT_LEN - 3))
    );
    assert_eq!(
        span["url.path"],
        format!("/{}…", "p".repeat(MAX_URL_PATH_LEN - 4))
    );
    // The too-long id is replaced, not echoed, and the span carries the replacement.
    assert_eq!(echoed.len(), 32);
    assert_eq!(span["http.request_id"], echoed.as_str());
    // A garbage X-Forwarded-For from a trusted peer ends the walk at the peer.
    assert_eq!(span["client.address"], "127.0.0.1");
}

/// The span fields of the one log line `request` writes through a layer trusting `proxies`.
async fn span_of(proxies: Option<TrustedProxies>, request: http::Request<Body>) -> Value {
    let logs = LogCapture::default();
    let telemetry = telemetry(&logs);
    let mut layer = ObsLayer::new(&telemetry);
    if let Some(proxies) = proxies {
        layer = layer.trusted_proxies(proxies);
    }
    send(app(layer), &telemetry, request).await;
    let lines = logs.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    line["span"].clone()
}

fn request(xff: &str, connect: Option<ConnectInfo<SocketAddr>>) -> http::Request<Body> {
    let mut request = http::Request::get("/whoami")
        .header("x-forwarded-for", xff)
        .header("x-request-id", "{\"id\":\"forged\"}")
        .body(Body::empty())
        .unwrap();
    if let Some(connect) = connect {
        request.extensions_mut().insert(connect);
    }
    request
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    // By default the header is the client's own claim: the peer is the client.
    let span = span_of(None, request("6.6.6.6", Some(peer([198, 51, 100, 7])))).await;
    assert_eq!(span["client.address"], "198.51.100.7");
    // An id with characters that need escaping is replaced.
    assert_eq!(span["http.request_id"].as_str().unwrap().len(), 32);

    // From a trusted proxy, the first hop it did not add.
    let proxies: TrustedProxies = "198.51.100.0/24".parse().unwrap();
    let span = span_of(
        Some(proxies.clone()),
        request("1.1.1.1, 6.6.6.6", Some(peer([198, 51, 100, 7]))),
    )
    .await;
    assert_eq!(span["client.address"], "6.6.6.6");

    // A peer outside the list is the client even with the list configured.
    let span = span_of(
        Some(proxies),
        request("6.6.6.6", Some(peer([203, 0, 113, 1]))),
    )
    .await;
    assert_eq!(span["client.address"], "203.0.113.1");

    // No peer address known: no client address, never the header's.
    let span = span_of(None, request("6.6.6.6", None)).await;
    assert_eq!(span.get("client.address"), None, "{span}");
}

#[tokio::test]
async fn x_forwarded_proto_is_believed_only_from_trusted_proxies() {
    let https = |connect: Option<ConnectInfo<SocketAddr>>| {
        let mut request = request("6.6.6.6", connect);
        request
            .headers_mut()
            .insert("x-forwarded-proto", "https".parse().unwrap());
        request
    };
    // By default the header is the client's own claim.
    let span = span_of(None, https(Some(peer([198, 51, 100, 7])))).await;
    assert_eq!(span["url.scheme"], "http");

    // From a trusted proxy, it is the scheme the client used.
    let proxies: TrustedProxies = "198.51.100.0/24".parse().unwrap();
    let span = span_of(Some(proxies.clone()), https(Some(peer([198, 51, 100, 7])))).await;
    assert_eq!(span["url.scheme"], "https");

    // Not from a peer outside the list, nor from an unknown peer.
    let span = span_of(Some(proxies.clone()), https(Some(peer([203, 0, 113, 1])))).await;
    assert_eq!(span["url.scheme"], "http");
    let span = span_of(Some(proxies), https(None)).await;
    assert_eq!(span["url.scheme"], "http");
}
