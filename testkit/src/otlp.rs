//! An OTLP trace collector over gRPC or HTTP (protobuf or JSON) that records what it receives.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_rustls::server::TlsStream;

use crate::tls::{ServerTls, accept_tls};

/// One span as the collector received it, with its resource and scope.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// Resource attributes, values rendered as strings.
    pub resource: BTreeMap<String, String>,
    /// Instrumentation scope name.
    pub scope: String,
    /// The span itself.
    pub span: Span,
}

impl ReceivedSpan {
    /// The span's name.
    pub fn name(&self) -> &str {
        &self.span.name
    }
    /// A span attribute rendered as a string.
    pub fn attr(&self, key: &str) -> Option<String> {
        find(&self.span.attributes, key)
    }
    /// A span attribute as an integer, if it was sent as one.
    pub fn int_attr(&self, key: &str) -> Option<i64> {
        self.span
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                Value::IntValue(i) => Some(*i),
                _ => None,
            })
    }
    /// The trace id in lowercase hex.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    /// The span id in lowercase hex.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    /// The parent span id in lowercase hex, empty for a root span.
    pub fn parent_span_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }
    /// The span kind (`SpanKind` as i32: 1 internal, 2 server, 3 client).
    pub fn kind(&self) -> i32 {
        self.span.kind
    }
    /// The status code (0 unset, 1 ok, 2 error).
    pub fn status_code(&self) -> i32 {
        self.span.status.as_ref().map_or(0, |s| s.code)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn find(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .map(render)
}

fn render(value: &AnyValue) -> String {
    match &value.value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The headers (gRPC metadata) of one export request, names lowercased.
pub type RequestHeaders = BTreeMap<String, String>;

#[derive(Clone, Default)]
struct Store {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    headers: Arc<Mutex<Vec<RequestHeaders>>>,
    requests: Arc<Mutex<usize>>,
    /// TLS handshakes that failed, such as a client that does not trust the certificate.
    rejected_handshakes: Arc<AtomicUsize>,
    notify: Arc<Notify>,
}

fn header_map(headers: &HeaderMap) -> RequestHeaders {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

impl Store {
    fn record_headers(&self, headers: &HeaderMap) {
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(header_map(headers));
    }

    fn record(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.spans.lock().unwrap_or_else(|p| p.into_inner());
        for rs in request.resource_spans {
            let resource: BTreeMap<String, String> = rs
                .resource
                .map(|r| {
                    r.attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), render(kv.value.as_ref()?))))
                        .collect()
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                let scope = ss.scope.map(|s| s.name).unwrap_or_default();
                for span in ss.spans {
                    spans.push(ReceivedSpan {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        span,
                    });
                }
            }
        }
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.notify.notify_waiters();
    }
}

#[tonic::async_trait]
impl TraceService for Store {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.record_headers(&request.metadata().clone().into_headers());
        self.record(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// An OTLP trace collector on a random local port, stopped when dropped.
#[derive(Debug)]
pub struct OtlpCollector {
    addr: SocketAddr,
    tls: bool,
    store: Store,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl OtlpCollector {
    /// Starts a gRPC collector (the `TraceService` of `opentelemetry-proto`).
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start_grpc() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::default();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let service = grpc_service(&store);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stop_rx.await;
                    },
                )
                .await;
        });
        OtlpCollector {
            addr,
            tls: false,
            store,
            _stop: stop_tx,
        }
    }

    /// Starts a gRPC collector over TLS with the given certificate chain and private key
    /// (PEM), such as those of a [`TestCa`](crate::TestCa); [`endpoint`](Self::endpoint) is
    /// then an `https://` URL.
    ///
    /// # Panics
    /// When no local port can be bound, or the certificate or key is not usable.
    pub async fn start_grpc_tls(cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self::grpc_over_tls(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: None,
        })
        .await
    }

    /// Starts the gRPC collector of [`start_grpc_tls`](Self::start_grpc_tls) requiring a
    /// client certificate (mutual TLS) that chains to the CA certificates of `client_ca_pem`
    /// (PEM), such as [`TestCa::ca_pem`](crate::TestCa::ca_pem); a handshake without one is
    /// refused and counted in [`rejected_handshakes`](Self::rejected_handshakes).
    ///
    /// # Panics
    /// When no local port can be bound, or a certificate or key is not usable.
    pub async fn start_grpc_mtls(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> Self {
        Self::grpc_over_tls(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: Some(client_ca_pem),
        })
        .await
    }

    async fn grpc_over_tls(tls: ServerTls<'_>) -> Self {
        let (collector, connections) = Self::bind_tls(tls, b"h2").await;
        let incoming = futures_util::stream::unfold(connections, |mut connections| async move {
            let tls = connections.recv().await?;
            Some((Ok::<_, std::io::Error>(tls), connections))
        });
        let service = grpc_service(&collector.store);
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        collector
    }

    /// Starts an HTTP collector answering `POST /v1/traces`, in protobuf or, with
    /// `Content-Type: application/json`, in OTLP/JSON (as the RUM receiver forwards browser
    /// spans); the answer uses the request's encoding.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start_http() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::default();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = http_app(&store);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        OtlpCollector {
            addr,
            tls: false,
            store,
            _stop: stop_tx,
        }
    }

    /// Starts the HTTP collector of [`start_http`](Self::start_http) over TLS (HTTP/1.1) with
    /// the given certificate chain and private key (PEM), such as those of a
    /// [`TestCa`](crate::TestCa); [`endpoint`](Self::endpoint) is then an `https://` URL.
    ///
    /// # Panics
    /// When no local port can be bound, or the certificate or key is not usable.
    pub async fn start_http_tls(cert_pem: &[u8], key_pem: &[u8]) -> Self {
        Self::http_over_tls(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: None,
        })
        .await
    }

    /// Starts the HTTP collector of [`start_http_tls`](Self::start_http_tls) requiring a
    /// client certificate (mutual TLS) that chains to the CA certificates of `client_ca_pem`
    /// (PEM), such as [`TestCa::ca_pem`](crate::TestCa::ca_pem); a handshake without one is
    /// refused and counted in [`rejected_handshakes`](Self::rejected_handshakes).
    ///
    /// # Panics
    /// When no local port can be bound, or a certificate or key is not usable.
    pub async fn start_http_mtls(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> Self {
        Self::http_over_tls(ServerTls {
            cert_pem,
            key_pem,
            client_ca_pem: Some(client_ca_pem),
        })
        .await
    }

    async fn http_over_tls(tls: ServerTls<'_>) -> Self {
        let (collector, mut connections) = Self::bind_tls(tls, b"http/1.1").await;
        let app = http_app(&collector.store);
        tokio::spawn(async move {
            while let Some(tls) = connections.recv().await {
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        collector
    }

    /// A TLS collector on a random local port, and its finished handshakes; the accept loop
    /// stops when the collector is dropped.
    async fn bind_tls(
        tls: ServerTls<'_>,
        alpn: &[u8],
    ) -> (Self, mpsc::Receiver<TlsStream<TcpStream>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::default();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let connections = accept_tls(
            listener,
            tls,
            alpn,
            Arc::clone(&store.rejected_handshakes),
            stop_rx,
        );
        let collector = OtlpCollector {
            addr,
            tls: true,
            store,
            _stop: stop_tx,
        };
        (collector, connections)
    }

    /// The base URL to configure as `OTEL_EXPORTER_OTLP_ENDPOINT`: `https://` for a TLS
    /// collector, whose certificate names the IP address.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// TLS handshakes that failed so far, such as those of a client that does not trust the
    /// collector's certificate; always 0 for a plain collector.
    pub fn rejected_handshakes(&self) -> usize {
        self.store.rejected_handshakes.load(Ordering::Relaxed)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The headers (gRPC metadata) of every export request received so far, in order.
    pub fn request_headers(&self) -> Vec<RequestHeaders> {
        self.store
            .headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Export requests received so far.
    pub fn requests(&self) -> usize {
        *self
            .store
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until at least `n` spans arrived, or `timeout` passed; returns what arrived.
    pub async fn wait_for_spans(&self, n: usize, timeout: Duration) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.store.notify.notified();
            let spans = self.spans();
            if spans.len() >= n || tokio::time::Instant::now() >= deadline {
                return spans;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

/// The gRPC trace service recording into `store`, accepting gzip.
fn grpc_service(store: &Store) -> TraceServiceServer<Store> {
    TraceServiceServer::new(store.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
}

/// The HTTP routes recording into `store`: `POST /v1/traces`, protobuf or JSON, plain or gzip.
fn http_app(store: &Store) -> axum::Router {
    let handler_store = store.clone();
    axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = handler_store.clone();
            async move {
                store.record_headers(&headers);
                let gzip = headers
                    .get(axum::http::header::CONTENT_ENCODING)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
                let body = if gzip {
                    let mut out = Vec::new();
                    match std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&body[..]),
                        &mut out,
                    ) {
                        Ok(_) => Bytes::from(out),
                        Err(_) => Bytes::new(),
                    }
                } else {
                    body
                };
                let json = headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                let response = ExportTraceServiceResponse {
                    partial_success: None,
                };
                if json {
                    match serde_json::from_slice::<ExportTraceServiceRequest>(&body) {
                        Ok(request) => {
                            store.record(request);
                            let body = serde_json::to_vec(&response).unwrap_or_default();
                            (StatusCode::OK, [(CONTENT_TYPE, "application/json")], body)
                        }
                        Err(_) => (
                            StatusCode::BAD_REQUEST,
                            [(CONTENT_TYPE, "application/json")],
                            Vec::new(),
                        ),
                    }
                } else {
                    match ExportTraceServiceRequest::decode(body) {
                        Ok(request) => {
                            store.record(request);
                            (
                                StatusCode::OK,
                                [(CONTENT_TYPE, "application/x-protobuf")],
                                response.encode_to_vec(),
                            )
                        }
                        Err(_) => (
                            StatusCode::BAD_REQUEST,
                            [(CONTENT_TYPE, "application/x-protobuf")],
                            Vec::new(),
                        ),
                    }
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The shape Faro's web tracing sends: hex ids, nanoseconds as strings, kind as a number.
    #[test]
    fn browser_otlp_json_decodes() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"todo-frontend"}}]},
            "scopeSpans":[{"scope":{"name":"@opentelemetry/instrumentation-fetch","version":"0.57.2"},
            "spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","parentSpanId":"",
            "name":"HTTP POST","kind":3,"startTimeUnixNano":"1764238555917000000","endTimeUnixNano":"1764238555990000000",
            "attributes":[{"key":"http.status_code","value":{"intValue":201}},{"key":"http.url","value":{"stringValue":"http://localhost/api/todos"}}],
            "droppedAttributesCount":0,"events":[],"links":[],"status":{"code":0}}]}]}]}"#;
        let request: ExportTraceServiceRequest = serde_json::from_slice(body).unwrap();
        let store = Store::default();
        store.record(request);
        let spans = store.spans.lock().unwrap().clone();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(spans[0].span_id(), "b7ad6b7169203331");
        assert_eq!(spans[0].kind(), 3);
        assert_eq!(spans[0].resource["service.name"], "todo-frontend");
        assert_eq!(spans[0].int_attr("http.status_code"), Some(201));
    }
}
