//! Body sizes match the bytes really sent, for fixed, chunked and empty bodies.

#![allow(clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use futures_util::stream;
use obs_axum::ObsLayer;
use obs_core::{HttpServerLabels, Metrics};

fn sums(metrics: &Metrics, method: &str, route: &str) -> (u64, f64, f64) {
    let http = metrics.http_server().unwrap();
    let labels = HttpServerLabels {
        method,
        route,
        status: "200",
        error_type: "",
    };
    let req = http.request_body_size(labels);
    let res = http.response_body_size(labels);
    assert_eq!(req.get_sample_count(), res.get_sample_count());
    (
        req.get_sample_count(),
        req.get_sample_sum(),
        res.get_sample_sum(),
    )
}

fn app(metrics: &Metrics) -> Router {
    Router::new()
        .route("/fixed", get(|| async { "x".repeat(1234) }))
        .route(
            "/chunked",
            get(|| async {
                let chunks =
                    (0..5).map(|i| Ok::<_, std::io::Error>(Bytes::from(vec![b'a'; 100 * (i + 1)])));
                Body::from_stream(stream::iter(chunks))
            }),
        )
        .route("/empty", get(|| async {}))
        .route("/echo", post(|body: Bytes| async move { body }))
        .layer(ObsLayer::from_metrics(metrics).unwrap())
}

#[tokio::test]
async fn fixed_body() {
    let metrics = Metrics::new();
    let (_, _, body) = common::send(&app(&metrics), "GET", "/fixed", Body::empty()).await;
    assert_eq!(body.len(), 1234);
    assert_eq!(sums(&metrics, "GET", "/fixed"), (1, 0.0, 1234.0));
}

#[tokio::test]
async fn chunked_body() {
    let metrics = Metrics::new();
    let (_, headers, body) = common::send(&app(&metrics), "GET", "/chunked", Body::empty()).await;
    assert!(
        headers.get("content-length").is_none(),
        "streamed without a length"
    );
    assert_eq!(body.len(), 1500);
    assert_eq!(sums(&metrics, "GET", "/chunked"), (1, 0.0, 1500.0));
}

#[tokio::test]
async fn empty_body() {
    let metrics = Metrics::new();
    let (_, _, body) = common::send(&app(&metrics), "GET", "/empty", Body::empty()).await;
    assert!(body.is_empty());
    assert_eq!(sums(&metrics, "GET", "/empty"), (1, 0.0, 0.0));
}

#[tokio::test]
async fn streamed_request_body_is_counted() {
    let metrics = Metrics::new();
    let chunks = (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; 2500])));
    let (_, _, body) = common::send(
        &app(&metrics),
        "POST",
        "/echo",
        Body::from_stream(stream::iter(chunks)),
    )
    .await;
    assert_eq!(body.len(), 10_000);
    assert_eq!(sums(&metrics, "POST", "/echo"), (1, 10_000.0, 10_000.0));
}

#[tokio::test]
async fn sizes_over_a_real_connection() {
    let metrics = Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(&metrics);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let res = client
        .request(
            http::Request::post(format!("http://{addr}/echo"))
                .body(Body::from(vec![b'q'; 777]))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(body.len(), 777);
    // The server finishes its record when the body is fully written; give it a moment.
    for _ in 0..100 {
        if sums(&metrics, "POST", "/echo").0 == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(sums(&metrics, "POST", "/echo"), (1, 777.0, 777.0));
}
