//! `ClientLayer`: service A (axum + ObsLayer) calls service B (axum + ObsLayer) through the
//! client layer; the collector holds one trace across both, and A's registry holds the client
//! histogram with bounded labels.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use obs_axum::ObsLayer;
use obs_axum::client::{ClientLayer, ClientService};
use obs_core::{Metrics, Telemetry};
use obs_testkit::OtlpCollector;
use tower::{Layer, ServiceExt};

type HttpClient = ClientService<Client<HttpConnector, Empty<Bytes>>>;

fn hyper_client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A server on its own thread and current-thread runtime, with `dispatch` as that thread's
/// subscriber, so every task it spawns records into it. Stops when the sender is dropped.
fn serve(
    dispatch: tracing::Dispatch,
    app: impl FnOnce() -> Router + Send + 'static,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _default = tracing::dispatcher::set_default(&dispatch);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app())
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
        });
    });
    (addr_rx.recv().unwrap(), stop_tx)
}

async fn get_text(uri: String) -> (StatusCode, String) {
    let response = hyper_client()
        .request(http::Request::get(uri).body(Empty::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn telemetry(name: &str, collector: &OtlpCollector) -> Telemetry {
    Telemetry::builder(name)
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_a_to_b_is_one_trace() {
    obs_core::install_propagator();
    let collector = OtlpCollector::start_grpc().await;
    let telemetry_a = telemetry("service-a", &collector);
    let telemetry_b = telemetry("service-b", &collector);

    let layer_b = ObsLayer::new(&telemetry_b);
    let (addr_b, stop_b) = serve(telemetry_b.dispatch().clone(), move || {
        Router::new()
            .route(
                "/greet/{name}",
                get(|Path(name): Path<String>| async move { format!("hello {name}") }),
            )
            .layer(layer_b)
    });

    let client: HttpClient = ClientLayer::new(&telemetry_a)
        .server_addresses(["127.0.0.1"])
        .layer(hyper_client());
    let layer_a = ObsLayer::new(&telemetry_a);
    let (addr_a, stop_a) = serve(telemetry_a.dispatch().clone(), move || {
        Router::new()
            .route(
                "/hello",
                get(move |State(client): State<HttpClient>| async move {
                    let uri = format!("http://{addr_b}/greet/ada?secret=1");
                    let request = http::Request::get(uri).body(Empty::new()).unwrap();
                    let response = client.oneshot(request).await.unwrap();
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    String::from_utf8(body.to_vec()).unwrap()
                }),
            )
            .with_state(client)
            .layer(layer_a)
    });

    let (status, body) = get_text(format!("http://{addr_a}/hello")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello ada"));

    // A's registry: one client call, labelled by the allow-listed address and its port.
    let text = telemetry_a.metrics().encode().unwrap();
    let port = addr_b.port().to_string();
    assert_eq!(
        common::sample(
            &text,
            "http_client_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", &port),
                ("http_response_status_code", "200"),
                ("error_type", ""),
            ],
        ),
        Some(1.0),
        "{text}"
    );
    if let Err(complaints) = obs_testkit::promtool_check_metrics(&text).await {
        panic!("promtool check metrics failed:\n{complaints}\n{text}");
    }

    drop((stop_a, stop_b));
    let (a, b) = (telemetry_a, telemetry_b);
    tokio::task::spawn_blocking(move || {
        a.shutdown().unwrap();
        b.shutdown().unwrap();
    })
    .await
    .unwrap();
    let spans = collector.wait_for_spans(3, Duration::from_secs(10)).await;
    let mut names: Vec<(String, &str, i32)> = spans
        .iter()
        .map(|s| (s.resource["service.name"].clone(), s.name(), s.kind()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("service-a".to_owned(), "GET", 3),
            ("service-a".to_owned(), "GET /hello", 2),
            ("service-b".to_owned(), "GET /greet/{name}", 2),
        ]
    );
    let find = |name: &str| spans.iter().find(|s| s.name() == name).unwrap();
    let (server_a, client_a, server_b) =
        (find("GET /hello"), find("GET"), find("GET /greet/{name}"));
    // One trace: B's server span is the child of A's client span, itself A's server span's.
    assert!(server_a.parent_span_id().is_empty());
    assert_eq!(client_a.trace_id(), server_a.trace_id());
    assert_eq!(server_b.trace_id(), server_a.trace_id());
    assert_eq!(client_a.parent_span_id(), server_a.span_id());
    assert_eq!(server_b.parent_span_id(), client_a.span_id());
    assert_eq!(client_a.attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        client_a.attr("server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        client_a.int_attr("server.port"),
        Some(i64::from(addr_b.port()))
    );
    assert_eq!(
        client_a.attr("url.full"),
        Some(format!("http://{addr_b}/greet/ada"))
    );
    assert_eq!(client_a.int_attr("http.response.status_code"), Some(200));
    assert_eq!(client_a.status_code(), 0);
}

#[tokio::test]
async fn labels_stay_bounded_and_failures_are_named() {
    let (addr, _stop) = serve(tracing::Dispatch::none(), || {
        Router::new().route("/ok", get(|| async { "ok" }))
    });
    let metrics = Metrics::new();
    let client = ClientLayer::from_metrics(&metrics)
        .unwrap()
        .server_addresses(["127.0.0.1"])
        .layer(hyper_client());
    let call = |uri: String, method: &str| {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Empty::<Bytes>::new())
            .unwrap();
        client.clone().oneshot(request)
    };
    let port = addr.port();
    assert_eq!(
        call(format!("http://{addr}/missing"), "GET")
            .await
            .unwrap()
            .status(),
        404
    );
    // `localhost` is not listed: `_OTHER`, and no port.
    call(format!("http://localhost:{port}/ok"), "GET")
        .await
        .unwrap();
    call(format!("http://localhost:{port}/ok"), "BREW")
        .await
        .unwrap();
    // Nothing listens on port 1.
    let refused = call("http://127.0.0.1:1/ok".to_owned(), "POST").await;
    assert!(refused.is_err());

    let text = metrics.encode().unwrap();
    // The text format writes absent labels as empty values.
    let series = common::series(&text, "http_client_request_duration_seconds_count");
    let mut found: Vec<Vec<(String, String)>> = series
        .into_iter()
        .map(|mut labels| {
            labels.sort();
            labels
        })
        .collect();
    found.sort();
    let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        v.sort();
        v
    };
    let port = port.to_string();
    let mut expected = vec![
        labels(&[
            ("error_type", "404"),
            ("http_request_method", "GET"),
            ("http_response_status_code", "404"),
            ("server_address", "127.0.0.1"),
            ("server_port", &port),
        ]),
        labels(&[
            ("error_type", ""),
            ("http_request_method", "GET"),
            ("http_response_status_code", "200"),
            ("server_address", "_OTHER"),
            ("server_port", ""),
        ]),
        labels(&[
            ("http_request_method", "_OTHER"),
            ("http_response_status_code", "405"),
            ("error_type", "405"),
            ("server_address", "_OTHER"),
            ("server_port", ""),
        ]),
        labels(&[
            ("error_type", "ConnectionRefused"),
            ("http_request_method", "POST"),
            ("http_response_status_code", ""),
            ("server_address", "127.0.0.1"),
            ("server_port", "1"),
        ]),
    ];
    expected.sort();
    assert_eq!(found, expected, "{text}");
    for labels in &found {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            common::sample(&text, "http_client_request_duration_seconds_count", &pairs),
            Some(1.0),
            "{labels:?}"
        );
    }
}

#[tokio::test]
async fn reqwest_through_the_documented_adapter() {
    let (addr, _stop) = serve(tracing::Dispatch::none(), || {
        Router::new().route(
            "/echo",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get("traceparent")
                    .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
            }),
        )
    });
    let metrics = Metrics::new();
    let reqwest_client = reqwest::Client::new();
    let client = ClientLayer::from_metrics(&metrics)
        .unwrap()
        .server_addresses(["127.0.0.1"])
        .layer(tower::service_fn(
            move |req: http::Request<reqwest::Body>| {
                let client = reqwest_client.clone();
                async move {
                    let response = client.execute(reqwest::Request::try_from(req)?).await?;
                    Ok::<_, reqwest::Error>(http::Response::from(response))
                }
            },
        ));
    let request = http::Request::put(format!("http://{addr}/echo"))
        .body(reqwest::Body::from("x"))
        .unwrap();
    let response = client.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 405);
    let text = metrics.encode().unwrap();
    let port = addr.port().to_string();
    assert_eq!(
        common::sample(
            &text,
            "http_client_request_duration_seconds_count",
            &[
                ("http_request_method", "PUT"),
                ("server_address", "127.0.0.1"),
                ("server_port", &port),
                ("http_response_status_code", "405"),
                ("error_type", "405"),
            ],
        ),
        Some(1.0),
        "{text}"
    );
}
