//! Body sizes match the bytes really sent, for fixed, chunked and empty bodies. A request body
//! of known length is recorded with that length and reaches the handler untouched; one of
//! unknown length is counted as the handler reads it.

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
        .route("/ignore", post(|| async { "not read" }))
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

#[tokio::test]
async fn a_request_body_of_known_length_is_recorded_unread() {
    let metrics = Metrics::new();
    // `Body::from(Vec)` knows its length, as a body hyper received with `Content-Length` does.
    let (_, _, body) = common::send(
        &app(&metrics),
        "POST",
        "/ignore",
        Body::from(vec![b'k'; 300]),
    )
    .await;
    assert_eq!(&body[..], b"not read");
    assert_eq!(sums(&metrics, "POST", "/ignore"), (1, 300.0, 8.0));
}

#[tokio::test]
async fn a_streamed_request_body_is_counted_as_far_as_it_is_read() {
    let metrics = Metrics::new();
    let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'z'; 100])));
    common::send(
        &app(&metrics),
        "POST",
        "/ignore",
        Body::from_stream(stream::iter(chunks)),
    )
    .await;
    // Unknown length, never read by the handler: nothing went through.
    assert_eq!(sums(&metrics, "POST", "/ignore"), (1, 0.0, 8.0));
}

/// A plain tower service whose body type is not axum's: a request body of unknown length
/// reaches it as it came (its own type, unread) and records no request body size; the rest of
/// the record is there.
#[tokio::test]
async fn an_unknown_length_in_a_foreign_body_type_records_no_request_size() {
    use http_body_util::{BodyExt, StreamBody};
    use tower::{Layer, ServiceExt};
    type Streamed = StreamBody<
        futures_util::stream::Iter<
            std::vec::IntoIter<Result<http_body::Frame<Bytes>, std::convert::Infallible>>,
        >,
    >;
    let metrics = Metrics::new();
    let service = ObsLayer::from_metrics(&metrics)
        .unwrap()
        .route_extractor(|_: &obs_axum::RouteRequest<'_>| Some("/upload".into()))
        .layer(tower::service_fn(
            |req: http::Request<Streamed>| async move {
                let read = req.into_body().collect().await.unwrap().to_bytes().len();
                Ok::<_, std::convert::Infallible>(http::Response::new(Body::from(read.to_string())))
            },
        ));
    let frames = vec![Ok(http_body::Frame::data(Bytes::from_static(b"12345")))];
    let request = http::Request::post("/upload")
        .body(StreamBody::new(futures_util::stream::iter(frames)))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"5");
    let http = metrics.http_server().unwrap();
    let labels = HttpServerLabels {
        method: "POST",
        route: "/upload",
        status: "200",
        error_type: "",
    };
    assert_eq!(http.request_duration(labels).get_sample_count(), 1);
    assert_eq!(http.response_body_size(labels).get_sample_count(), 1);
    assert_eq!(http.request_body_size(labels).get_sample_count(), 0);
}

/// A client that declares a huge body and sends a few bytes of it cannot make the request body
/// size histogram record what it claimed: a declared length over
/// `MAX_DECLARED_REQUEST_BODY_LEN` is counted as read, not taken as said.
#[tokio::test]
async fn a_declared_length_over_the_bound_is_counted_not_believed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const { assert!(obs_core::names::MAX_DECLARED_REQUEST_BODY_LEN < 1_000_000_000) };
    let metrics = Metrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(&metrics);
    tokio::spawn(async move { axum::serve(listener, app).await });
    for path in ["/ignore", "/echo"] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head =
            format!("POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 999999999999\r\n\r\nabc");
        stream.write_all(head.as_bytes()).await.unwrap();
        if path == "/echo" {
            // The handler waits for the rest of the body: the client gives up and leaves.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            drop(stream);
        } else {
            let mut response = Vec::new();
            let mut chunk = [0u8; 1024];
            // The answer comes without the body being read; the server then closes.
            while !String::from_utf8_lossy(&response).contains("not read") {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "closed before answering");
                response.extend_from_slice(&chunk[..n]);
            }
        }
    }
    let http = metrics.http_server().unwrap();
    let mut sum = 0.0;
    let mut count = 0;
    for _ in 0..100 {
        let text = metrics.encode().unwrap();
        let series = common::series(&text, "http_server_request_body_size_bytes_sum");
        sum = 0.0;
        count = series.len();
        for labels in &series {
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            sum +=
                common::sample(&text, "http_server_request_body_size_bytes_sum", &labels).unwrap();
        }
        if count >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(count, 2, "both requests recorded");
    // At most the three bytes sent, once per request.
    assert!(sum <= 6.0, "recorded {sum} bytes");
    let ignored = http.request_body_size(HttpServerLabels {
        method: "POST",
        route: "/ignore",
        status: "200",
        error_type: "",
    });
    assert_eq!(ignored.get_sample_count(), 1);
    assert_eq!(ignored.get_sample_sum(), 0.0, "the handler read nothing");
}
