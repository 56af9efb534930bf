//! Loki's push endpoint, as Loki receives it: `POST /loki/api/v1/push` with a snappy-compressed
//! `logproto.PushRequest` (messages transcribed from Loki's `push.proto`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

#[derive(Clone, PartialEq, Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, Message)]
struct StreamAdapter {
    #[prost(string, tag = "1")]
    labels: String,
    #[prost(message, repeated, tag = "2")]
    entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    hash: u64,
}

#[derive(Clone, PartialEq, Message)]
struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    line: String,
}

#[derive(Clone, PartialEq, Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// One pushed log line with its stream labels.
#[derive(Clone, Debug)]
pub struct LokiEntry {
    /// The stream selector, as sent: `{service="x", level="info"}`.
    pub labels: String,
    /// The log line.
    pub line: String,
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: i128,
}

impl LokiEntry {
    /// The value of one stream label.
    pub fn label(&self, name: &str) -> Option<String> {
        let inner = self
            .labels
            .trim()
            .trim_start_matches('{')
            .trim_end_matches('}');
        inner.split(", ").find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"').to_owned())
        })
    }
}

#[derive(Clone, Default)]
struct Store {
    entries: Arc<Mutex<Vec<LokiEntry>>>,
    notify: Arc<Notify>,
}

/// A Loki push receiver on a random local port, stopped when dropped.
pub struct LokiReceiver {
    addr: SocketAddr,
    store: Store,
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for LokiReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LokiReceiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn decode(headers: &HeaderMap, body: &[u8]) -> Result<PushRequest, String> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-protobuf" {
        return Err(format!("unsupported content type {content_type:?}"));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    PushRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

impl LokiReceiver {
    /// Starts the receiver.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let store = Store::default();
        let handler_store = store.clone();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = axum::Router::new().route(
            "/loki/api/v1/push",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let store = handler_store.clone();
                async move {
                    match decode(&headers, &body) {
                        Ok(request) => {
                            let mut entries =
                                store.entries.lock().unwrap_or_else(|p| p.into_inner());
                            for stream in request.streams {
                                for entry in stream.entries {
                                    let ts = entry.timestamp.unwrap_or_default();
                                    entries.push(LokiEntry {
                                        labels: stream.labels.clone(),
                                        line: entry.line,
                                        timestamp_ns: i128::from(ts.seconds) * 1_000_000_000
                                            + i128::from(ts.nanos),
                                    });
                                }
                            }
                            drop(entries);
                            store.notify.notify_waiters();
                            (StatusCode::NO_CONTENT, String::new())
                        }
                        Err(e) => (StatusCode::BAD_REQUEST, e),
                    }
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
        LokiReceiver {
            addr,
            store,
            _stop: stop_tx,
        }
    }

    /// The base URL to configure as `LOKI_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every line received so far.
    pub fn entries(&self) -> Vec<LokiEntry> {
        self.store
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until a line satisfying `pred` arrived, or `timeout` passed.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&LokiEntry) -> bool,
    ) -> Option<LokiEntry> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.store.notify.notified();
            if let Some(found) = self.entries().into_iter().find(|e| pred(e)) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}
