//! Forwarding the browser's spans to an OTLP/HTTP endpoint, from a bounded queue drained by a
//! background thread, so the request path never waits on the collector.

use std::thread;
use std::time::Duration;

use obs_core::RumMetrics;
use obs_core::names::RumDropReason;
use tokio::sync::mpsc;

use super::rejection::ForwardError;
use super::spans::Traces;

/// How many batches of spans wait for the exporter at most; more are dropped and counted.
pub(crate) const QUEUE_CAPACITY: usize = 64;
/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// One batch: OTLP/JSON `{resourceSpans: [...]}` as re-encoded by the receiver, and its span
/// count.
#[derive(Debug)]
struct Batch {
    body: Vec<u8>,
    spans: u64,
}

/// The sending half; dropping every clone stops the exporter thread once the queue is empty.
#[derive(Debug)]
pub(crate) struct Forwarder {
    tx: mpsc::Sender<Batch>,
}

impl Forwarder {
    /// Starts the exporter thread posting to `<endpoint>/v1/traces`.
    pub(crate) fn start(endpoint: &str, metrics: Option<RumMetrics>) -> Result<Self, ForwardError> {
        let url = traces_url(endpoint);
        // The collector the backend exports to may want its API key on browser spans too.
        let headers = obs_core::config::otlp_headers_from_env()
            .map_err(|e| ForwardError::Client(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| ForwardError::Client(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ForwardError::Runtime)?;
        let (tx, mut rx) = mpsc::channel::<Batch>(QUEUE_CAPACITY);
        thread::Builder::new()
            .name("obs-rum-otlp".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    while let Some(batch) = rx.recv().await {
                        let mut request = client
                            .post(&url)
                            .header(http::header::CONTENT_TYPE, "application/json");
                        for (key, value) in &headers {
                            request = request.header(key, value);
                        }
                        let sent = request.body(batch.body).send().await;
                        let ok = matches!(&sent, Ok(response) if response.status().is_success());
                        if !ok {
                            if let Some(m) = &metrics {
                                m.items_dropped(RumDropReason::ExportFailed)
                                    .inc_by(batch.spans);
                            }
                            match sent {
                                Ok(response) => tracing::debug!(
                                    target: "obs_axum::rum",
                                    status = response.status().as_u16(),
                                    "the OTLP endpoint refused browser spans"
                                ),
                                Err(error) => tracing::debug!(
                                    target: "obs_axum::rum",
                                    %error,
                                    "cannot forward browser spans"
                                ),
                            }
                        }
                    }
                });
            })
            .map_err(ForwardError::Runtime)?;
        Ok(Forwarder { tx })
    }

    /// Queues `traces` for export; `false` when the queue is full (the spans are dropped).
    pub(crate) fn send(&self, traces: &Traces, spans: u64) -> bool {
        let Ok(body) = serde_json::to_vec(traces) else {
            return false;
        };
        self.tx.try_send(Batch { body, spans }).is_ok()
    }
}

/// `<endpoint>/v1/traces`, unless the endpoint already names that path.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
