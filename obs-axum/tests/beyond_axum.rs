//! `ObsLayer` on a plain tower service (no axum `Router`), and gRPC statuses as `error_type`.

#![allow(clippy::unwrap_used)]

mod common;

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use obs_axum::{ObsLayer, RouteRequest};
use obs_core::Metrics;
use tower::{Layer, ServiceExt, service_fn};

type GrpcBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A gRPC-style answer: a data frame, then trailers with `grpc-status: code`; or, for a
/// trailers-only answer, the status in the headers and no body.
fn grpc_response(code: &str, trailers_only: bool) -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", code.parse().unwrap());
    let frames = if trailers_only {
        Vec::new()
    } else {
        vec![
            Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02hi"))),
            Ok(Frame::trailers(trailers)),
        ]
    };
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    response
        .headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    if trailers_only {
        response
            .headers_mut()
            .insert("grpc-status", code.parse().unwrap());
    }
    response
}

/// gRPC methods are a closed set the service knows; anything else is not a route.
fn grpc_method(req: &RouteRequest<'_>) -> Option<Cow<'static, str>> {
    ["/todo.v1.Todos/Get", "/todo.v1.Todos/List"]
        .into_iter()
        .find(|m| *m == req.uri.path())
        .map(Cow::Borrowed)
}

#[tokio::test]
async fn grpc_statuses_become_error_type_on_a_plain_tower_service() {
    let metrics = Metrics::new();
    let layer = ObsLayer::from_metrics(&metrics)
        .unwrap()
        .route_extractor(grpc_method);
    // The layer hands the inner service the request as it came.
    let service = layer.layer(service_fn(|req: Request<Full<Bytes>>| async move {
        let path = req.uri().path().to_owned();
        Ok::<_, Infallible>(match path.as_str() {
            "/todo.v1.Todos/Get" => grpc_response("5", false),
            "/todo.v1.Todos/List" => grpc_response("0", false),
            _ => grpc_response("14", true),
        })
    }));
    for path in [
        "/todo.v1.Todos/Get",
        "/todo.v1.Todos/List",
        "/todo.v1.Todos/Nope",
    ] {
        let request = Request::post(path).body(Full::new(Bytes::new())).unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    let text = metrics.encode().unwrap();
    let count = |route: &str, error_type: &str| {
        common::sample(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                ("error_type", error_type),
                ("http_request_method", "POST"),
                ("http_response_status_code", "200"),
                ("http_route", route),
            ],
        )
    };
    assert_eq!(
        count("/todo.v1.Todos/Get", "NOT_FOUND"),
        Some(1.0),
        "{text}"
    );
    // Not counted as a success (the series may exist with 0: handles are looked up on the head).
    assert_eq!(count("/todo.v1.Todos/Get", "").unwrap_or(0.0), 0.0);
    assert_eq!(count("/todo.v1.Todos/List", ""), Some(1.0));
    assert_eq!(count("unmatched", "UNAVAILABLE"), Some(1.0));
}
