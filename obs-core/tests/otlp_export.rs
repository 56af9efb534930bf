//! Spans reach a real OTLP collector over gRPC and over HTTP/protobuf, with or without the
//! application's runtime, and `https://` endpoints speak TLS on both transports.

#![cfg(all(feature = "otlp-grpc", feature = "otlp-http"))]
#![allow(clippy::unwrap_used)]

use obs_testkit::LogCapture;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use obs_core::{OtlpProtocol, Telemetry};
use obs_testkit::{OtlpCollector, ReceivedSpan};

#[tracing::instrument(fields(order.id = 42))]
fn checkout() {
    tracing::info_span!("charge_card", payment.provider = "acme").in_scope(|| {
        tracing::info!("charged");
    });
}

async fn export_through(collector: &OtlpCollector, protocol: OtlpProtocol) -> Vec<ReceivedSpan> {
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("checkout-svc")
        .service_version("1.2.3")
        .instance_id("checkout-1")
        .environment("test")
        .resource_attribute("team", "payments")
        .otlp_endpoint(collector.endpoint())
        .otlp_protocol(protocol)
        .log_writer(logs.writer())
        .build()
        .expect("telemetry builds");
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    // Shutdown blocks while it flushes: keep it off the async workers.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .expect("flushed in time");
    collector.wait_for_spans(2, Duration::from_secs(10)).await
}

fn assert_checkout_trace(spans: &[ReceivedSpan]) {
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let outer = spans
        .iter()
        .find(|s| s.name() == "checkout")
        .expect("outer span");
    let inner = spans
        .iter()
        .find(|s| s.name() == "charge_card")
        .expect("inner span");

    for span in [outer, inner] {
        assert_eq!(span.resource["service.name"], "checkout-svc");
        assert_eq!(span.resource["service.version"], "1.2.3");
        assert_eq!(span.resource["service.instance.id"], "checkout-1");
        assert_eq!(span.resource["deployment.environment.name"], "test");
        assert_eq!(span.resource["team"], "payments");
    }
    assert_eq!(inner.trace_id(), outer.trace_id());
    assert_eq!(inner.parent_span_id(), outer.span_id());
    assert!(outer.parent_span_id().is_empty(), "outer is a root span");
    assert_eq!(outer.trace_id().len(), 32);
    assert_eq!(outer.int_attr("order.id"), Some(42));
    assert_eq!(inner.attr("payment.provider").as_deref(), Some("acme"));
    // The event inside the span travels as a span event.
    assert!(inner.span.events.iter().any(|e| e.name == "charged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_grpc() {
    let collector = OtlpCollector::start_grpc().await;
    let spans = export_through(&collector, OtlpProtocol::Grpc).await;
    assert_checkout_trace(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_http_protobuf() {
    let collector = OtlpCollector::start_http().await;
    let spans = export_through(&collector, OtlpProtocol::HttpProtobuf).await;
    assert_checkout_trace(&spans);
}

/// Exporting must not depend on the application's runtime: with no runtime at all, spans are
/// still delivered.
#[test]
fn export_works_without_an_application_runtime() {
    // The collector's runtime stands for a remote collector; the application has none.
    let collector_rt = tokio::runtime::Runtime::new().unwrap();
    let collector = collector_rt.block_on(OtlpCollector::start_grpc());
    let telemetry = Telemetry::builder("plain-thread")
        .otlp_endpoint(collector.endpoint())
        .log_writer(std::io::sink)
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    telemetry.shutdown().expect("flushed from a plain thread");
    let spans = collector_rt.block_on(collector.wait_for_spans(2, Duration::from_secs(10)));
    assert_eq!(span_names(&spans), ["charge_card", "checkout"]);
}

/// Exporting must not depend on the application's runtime: telemetry built inside a
/// current-thread runtime delivers its spans while that runtime's only thread is blocked (here
/// in the shutdown itself, which waits for the export).
#[test]
fn export_works_while_the_current_thread_runtime_is_busy() {
    let collector_rt = tokio::runtime::Runtime::new().unwrap();
    let collector = collector_rt.block_on(OtlpCollector::start_grpc());
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    app.block_on(async {
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let telemetry = Telemetry::builder("current-thread")
            .otlp_endpoint(collector.endpoint())
            .shutdown_timeout(Duration::from_secs(5))
            .log_writer(std::io::sink)
            .build()
            .unwrap();
        tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
        // Blocks the runtime's one thread until the spans are flushed: nothing the export
        // needs may run on it.
        telemetry
            .shutdown()
            .expect("flushed while the runtime was blocked");
    });
    let spans = collector_rt.block_on(collector.wait_for_spans(2, Duration::from_secs(10)));
    assert_eq!(span_names(&spans), ["charge_card", "checkout"]);
}

fn span_names(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut names: Vec<String> = spans.iter().map(|s| s.name().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampler_always_off_exports_nothing_but_keeps_trace_ids_in_logs() {
    let collector = OtlpCollector::start_grpc().await;
    let logs = LogCapture::default();
    let telemetry = Telemetry::builder("sampled-out")
        .otlp_endpoint(collector.endpoint())
        .sampler(obs_core::TraceSampler::AlwaysOff)
        .log_format(obs_core::LogFormat::Json)
        .log_writer(logs.writer())
        .build()
        .unwrap();
    tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collector.requests(), 0, "nothing sampled, nothing sent");
    let line = logs
        .json_lines()
        .into_iter()
        .find(|l| l["message"] == "charged")
        .unwrap();
    assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
}

/// A TCP listener standing in for a TLS collector: it records the first bytes of every
/// connection and closes it, so a TLS client's handshake goes no further than its ClientHello.
struct HandshakeRecorder {
    port: u16,
    first_bytes: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HandshakeRecorder {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let first_bytes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let first_bytes = first_bytes.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((mut stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    // The record header (5 bytes) and the handshake message type.
                    let mut head = [0u8; 6];
                    let mut got = 0;
                    while got < head.len() {
                        match stream.read(&mut head[got..]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got += n,
                        }
                    }
                    first_bytes.lock().unwrap().push(head[..got].to_vec());
                }
            })
        };
        HandshakeRecorder {
            port,
            first_bytes,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.first_bytes.lock().unwrap().clone()
    }
}

/// `https://` collectors get TLS on both transports: the exporter opens the connection with a
/// TLS ClientHello (record type 0x16 handshake, version major 3, handshake type 1), and a
/// collector that fails the handshake costs the caller no more than the shutdown timeout.
#[test]
fn https_endpoints_send_a_tls_client_hello_on_both_transports() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let collector = HandshakeRecorder::start();
        let telemetry = Telemetry::builder("tls")
            .otlp_endpoint(format!("https://127.0.0.1:{}", collector.port))
            .otlp_protocol(protocol)
            .shutdown_timeout(Duration::from_secs(2))
            .log_writer(std::io::sink)
            .build()
            .unwrap_or_else(|e| panic!("{protocol:?}: {e}"));
        tracing::dispatcher::with_default(telemetry.dispatch(), checkout);
        let started = std::time::Instant::now();
        let result = telemetry.shutdown();
        assert!(started.elapsed() < Duration::from_secs(4), "{protocol:?}");
        // The flush's export failed at the handshake; the SDK's batch processor does not pass
        // export failures on to its shutdown, so the shutdown itself succeeded, in time.
        assert!(
            matches!(result, Ok(())),
            "{protocol:?}: shutdown returned {result:?}"
        );
        let connections = collector.finish();
        assert!(!connections.is_empty(), "{protocol:?}: nothing connected");
        for head in connections {
            assert_eq!(
                (head[0], head[1], head[5]),
                (0x16, 0x03, 0x01),
                "{protocol:?}: not a TLS ClientHello: {head:02x?}"
            );
        }
    }
}
