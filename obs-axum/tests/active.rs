//! `http_server_active_requests` returns to zero after cancelled requests, client disconnects
//! and panics.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use obs_axum::ObsLayer;
use obs_core::{HttpServerLabels, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tower::ServiceExt;

fn active(metrics: &Metrics) -> i64 {
    metrics.http_server().unwrap().active_requests("GET").get()
}

async fn wait_for_active(metrics: &Metrics, want: i64) {
    for _ in 0..500 {
        if active(metrics) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "active requests stayed at {} (want {want})",
        active(metrics)
    );
}

fn failures(metrics: &Metrics, error_type: &str) -> u64 {
    metrics
        .http_server()
        .unwrap()
        .request_duration(HttpServerLabels {
            method: "GET",
            route: "/slow",
            status: "",
            error_type,
        })
        .get_sample_count()
}

fn app(metrics: &Metrics, entered: Arc<Notify>) -> Router {
    Router::new()
        .route(
            "/slow",
            get(move || {
                let entered = entered.clone();
                async move {
                    entered.notify_one();
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "never"
                }
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler failed");
                }
                "unreachable"
            }),
        )
        .layer(ObsLayer::from_metrics(metrics).unwrap())
}

#[tokio::test]
async fn dropped_future_lowers_the_gauge() {
    let metrics = Metrics::new();
    let entered = Arc::new(Notify::new());
    let app = app(&metrics, entered.clone());
    let task = tokio::spawn(async move {
        let req = http::Request::get("/slow").body(Body::empty()).unwrap();
        app.oneshot(req).await
    });
    entered.notified().await;
    assert_eq!(active(&metrics), 1);
    task.abort();
    let _ = task.await;
    wait_for_active(&metrics, 0).await;
    assert_eq!(failures(&metrics, "cancelled"), 1);
}

#[tokio::test]
async fn client_disconnect_lowers_the_gauge() {
    let metrics = Metrics::new();
    let entered = Arc::new(Notify::new());
    let app = app(&metrics, entered.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    entered.notified().await;
    wait_for_active(&metrics, 1).await;
    drop(client);
    wait_for_active(&metrics, 0).await;
    assert_eq!(failures(&metrics, "cancelled"), 1);
}

#[tokio::test]
async fn panicking_handler_lowers_the_gauge() {
    let metrics = Metrics::new();
    let app = app(&metrics, Arc::new(Notify::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // The connection task dies with the panic: the client sees the connection close.
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut buf)).await;
    wait_for_active(&metrics, 0).await;
    let panics = metrics
        .http_server()
        .unwrap()
        .request_duration(HttpServerLabels {
            method: "GET",
            route: "/panic",
            status: "",
            error_type: "panic",
        })
        .get_sample_count();
    assert_eq!(panics, 1);
}

#[tokio::test]
async fn completed_requests_return_the_gauge_after_the_body() {
    let metrics = Metrics::new();
    let app = app(&metrics, Arc::new(Notify::new())).route("/ok", get(|| async { "ok" }));
    // `/ok` is added after the layer, so it is not instrumented: route the layer over it.
    let app = app.layer(ObsLayer::from_metrics(&metrics).unwrap());
    let req = http::Request::get("/ok").body(Body::empty()).unwrap();
    let res = app.oneshot(req).await.unwrap();
    // The response head is out but the body is not: the request is still active.
    assert_eq!(active(&metrics), 1);
    drop(res);
    assert_eq!(active(&metrics), 0);
}
