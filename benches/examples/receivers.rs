//! Live receivers for the exporters-down measurement (`benches/BASELINE.md`): an OTLP/gRPC
//! trace collector and a Loki push endpoint that decode what they are sent, count it and keep
//! nothing, so a long load run neither grows their memory nor costs more CPU than a collector's
//! front door.
//!
//! ```sh
//! cargo run --release -p obs-benches --example receivers -- 127.0.0.1:4317 127.0.0.1:3100
//! ```
//!
//! Prints the counts every 5 s; stops on Ctrl-C or SIGTERM.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

#[derive(Default)]
struct Counts {
    exports: AtomicU64,
    spans: AtomicU64,
    pushes: AtomicU64,
    push_bytes: AtomicU64,
}

#[derive(Clone)]
struct Collector(Arc<Counts>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        self.0.exports.fetch_add(1, Ordering::Relaxed);
        self.0.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let otlp = args.next().unwrap_or_else(|| "127.0.0.1:4317".into());
    let loki = args.next().unwrap_or_else(|| "127.0.0.1:3100".into());
    let counts = Arc::new(Counts::default());

    let otlp_listener = tokio::net::TcpListener::bind(&otlp).await.unwrap();
    let service = TraceServiceServer::new(Collector(Arc::clone(&counts)))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(otlp_listener))
            .await
            .unwrap();
    });

    let loki_listener = tokio::net::TcpListener::bind(&loki).await.unwrap();
    let loki_counts = Arc::clone(&counts);
    let app = axum::Router::new().route(
        "/loki/api/v1/push",
        axum::routing::post(move |body: Bytes| {
            let counts = Arc::clone(&loki_counts);
            async move {
                counts.pushes.fetch_add(1, Ordering::Relaxed);
                counts
                    .push_bytes
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(loki_listener, app).await.unwrap() });

    println!("OTLP/gRPC on {otlp}, Loki on {loki}");
    let report = Arc::clone(&counts);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            println!(
                "exports {} spans {} loki pushes {} ({} bytes)",
                report.exports.load(Ordering::Relaxed),
                report.spans.load(Ordering::Relaxed),
                report.pushes.load(Ordering::Relaxed),
                report.push_bytes.load(Ordering::Relaxed),
            );
        }
    });
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
