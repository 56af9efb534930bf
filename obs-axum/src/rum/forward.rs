//! Forwarding the browser's spans to an OTLP/HTTP endpoint, from a bounded queue drained by a
//! task on obs-core's exporter runtime, so the request path never waits on the collector and
//! the [`Telemetry`](obs_core::Telemetry) guard flushes the queue on shutdown.

use std::time::Duration;

use obs_core::names::RumDropReason;
use obs_core::{Exporters, RumMetrics, ShutdownSignal};
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

/// The sending half. The exporter task ends when every clone is dropped and the queue is
/// empty, or when its [`Exporters`] shut down, after posting what is queued.
#[derive(Debug)]
pub(crate) struct Forwarder {
    tx: mpsc::Sender<Batch>,
    /// Keeps exporters of the forwarder's own (a receiver built without a `Telemetry`)
    /// running as long as the forwarder.
    _exporters: Exporters,
}

/// Posts batches to the collector and counts those it refuses.
#[derive(Debug)]
struct Exporter {
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    metrics: Option<RumMetrics>,
}

impl Forwarder {
    /// Starts the exporter task on `exporters`, posting to `<endpoint>/v1/traces`.
    pub(crate) fn start(
        endpoint: &str,
        metrics: Option<RumMetrics>,
        exporters: Exporters,
    ) -> Result<Self, ForwardError> {
        // The collector the backend exports to may want its API key on browser spans too.
        let headers = obs_core::config::otlp_headers_from_env().map_err(ForwardError::Config)?;
        let client = http_client()?;
        let exporter = Exporter {
            client,
            url: traces_url(endpoint),
            headers,
            metrics,
        };
        let (tx, rx) = mpsc::channel::<Batch>(QUEUE_CAPACITY);
        exporters
            .spawn(|shutdown| exporter.run(rx, shutdown))
            .map_err(ForwardError::Runtime)?;
        Ok(Forwarder {
            tx,
            _exporters: exporters,
        })
    }

    /// Queues `traces` for export; `false` when the queue is full, or closed because the
    /// telemetry shut down (the spans are dropped and counted as `queue_full`).
    pub(crate) fn send(&self, traces: &Traces, spans: u64) -> bool {
        let Ok(body) = serde_json::to_vec(traces) else {
            return false;
        };
        self.tx.try_send(Batch { body, spans }).is_ok()
    }
}

impl Exporter {
    /// Posts batches as they come; once shutdown is requested, takes no more and posts what
    /// is queued.
    async fn run(self, mut rx: mpsc::Receiver<Batch>, mut shutdown: ShutdownSignal) {
        loop {
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(batch) => self.post(batch).await,
                    None => return,
                },
                () = shutdown.requested() => break,
            }
        }
        rx.close();
        while let Some(batch) = rx.recv().await {
            self.post(batch).await;
        }
    }

    async fn post(&self, batch: Batch) {
        let mut request = self
            .client
            .post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json");
        for (key, value) in &self.headers {
            request = request.header(key, value);
        }
        let sent = request.body(batch.body).send().await;
        let ok = matches!(&sent, Ok(response) if response.status().is_success());
        if ok {
            return;
        }
        if let Some(m) = &self.metrics {
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

/// The HTTP client posting to the collector, with the TLS files the backend's exports use: the
/// CA certificates of `OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE` besides the system's and the webpki roots, and
/// the client certificate of `OTEL_EXPORTER_OTLP_(TRACES_)CLIENT_CERTIFICATE` and
/// `..._CLIENT_KEY` for a collector that asks for one.
fn http_client() -> Result<reqwest::Client, ForwardError> {
    let tls = obs_core::config::otlp_tls_from_env().map_err(ForwardError::Config)?;
    let client_error = |e: reqwest::Error| ForwardError::Client(e.to_string());
    let mut client = reqwest::Client::builder().timeout(EXPORT_TIMEOUT);
    if let Some(pem) = &tls.ca_certificates {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(client_error)? {
            client = client.add_root_certificate(cert);
        }
    }
    if let Some(pem) = &tls.client_identity {
        client = client.identity(reqwest::Identity::from_pem(pem).map_err(client_error)?);
    }
    client.build().map_err(client_error)
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
