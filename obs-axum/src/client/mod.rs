//! Outgoing HTTP: a tower layer for HTTP clients that records
//! `http_client_request_duration_seconds`, opens a client span and sends the trace on in
//! `traceparent`.
//!
//! [`ClientLayer`] wraps any tower service from `http::Request<B>` to `http::Response<B2>`
//! whose error implements [`std::error::Error`]: hyper-util's legacy `Client` directly, and
//! reqwest through a three-line adapter (below).
//!
//! # Example: hyper-util
//!
//! ```no_run
//! use http_body_util::Empty;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{Layer, ServiceExt};
//!
//! # async fn call(telemetry: &obs_core::Telemetry) -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder(TokioExecutor::new())
//!     .build_http::<Empty<bytes::Bytes>>();
//! let client = obs_axum::ClientLayer::new(telemetry)
//!     .server_addresses(["payments.internal", "127.0.0.1"])
//!     .layer(client);
//! let request = http::Request::get("http://payments.internal:8080/charges/42")
//!     .body(Empty::new())?;
//! let response = client.oneshot(request).await?; // inside the caller's span: its child
//! # Ok(()) }
//! ```
//!
//! # Example: reqwest
//!
//! reqwest has no tower hook for whole requests; hand the layer a service that converts to
//! and from `http` types:
//!
//! ```no_run
//! use tower::{Layer, ServiceExt};
//!
//! # async fn call(telemetry: &obs_core::Telemetry) -> Result<(), Box<dyn std::error::Error>> {
//! let reqwest_client = reqwest::Client::new();
//! let client = obs_axum::ClientLayer::new(telemetry)
//!     .server_addresses(["payments.internal"])
//!     .layer(tower::service_fn(move |req: http::Request<reqwest::Body>| {
//!         let client = reqwest_client.clone();
//!         async move {
//!             let response = client.execute(reqwest::Request::try_from(req)?).await?;
//!             Ok::<_, reqwest::Error>(http::Response::from(response))
//!         }
//!     }));
//! let request = http::Request::get("http://payments.internal/charges/42")
//!     .body(reqwest::Body::from(""))?;
//! let response = client.oneshot(request).await?;
//! # Ok(()) }
//! ```
//!
//! # Metrics
//!
//! | name | type | unit | labels |
//! |---|---|---|---|
//! | `http_client_request_duration_seconds` | histogram (0.005 … 10, as the server's) | s | `http_request_method`, `server_address`, `server_port`, `http_response_status_code`, `error_type` |
//!
//! The duration runs from the call until the response head arrived or the request failed;
//! reading the body is the caller's. `error_type` is empty on success, the status code for
//! 4xx and 5xx (the client conventions count both as errors), the [`std::io::ErrorKind`]
//! (`ConnectionRefused`, `TimedOut`, …) when the error's source chain holds an I/O error, else
//! the error's type name, and `cancelled` when the call was dropped before it finished.
//!
//! # Cardinality
//!
//! `http_request_method` is normalised as on the server (unknown methods become `_OTHER`,
//! `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS` honoured). `server_address` is the request's
//! host only when it is in [`ClientLayer::server_addresses`] (empty by default), else
//! `_OTHER`, and `server_port` is recorded only for listed hosts: an unlisted host, a random
//! port or a user-controlled URL cannot add series. Status codes are numbers. The series count
//! is at most methods × (listed addresses × their ports + 1) × statuses seen; label handles are
//! cached per label set.
//!
//! # Spans
//!
//! An `INFO` span (target `obs_axum::client`) named after the method (`GET`; `HTTP` for
//! `_OTHER`), kind `client`, child of the current span, with `http.request.method`,
//! `server.address`, `server.port`, `url.full` (scheme, host, port and path; user info and
//! query left out, cut to [`MAX_URL_FULL_LEN`](obs_core::names::MAX_URL_FULL_LEN) bytes),
//! `http.response.status_code` and, on 4xx, 5xx or failure, status `ERROR` and `error.type`.
//! Its context is injected with the propagators of the [`Telemetry`](obs_core::Telemetry)
//! given to [`ClientLayer::new`] (W3C trace context and baggage unless `OTEL_PROPAGATORS`
//! says otherwise), else with the global propagator, so the server's span becomes its child.

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::ClientLayer;
pub use service::ClientService;
