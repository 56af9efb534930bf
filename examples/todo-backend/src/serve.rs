//! The HTTP/1 server loop: `axum::serve` with a header-read timeout and a shutdown deadline.
//!
//! - A client gets [`ServeOptions::header_read_timeout`] to send a request's headers; a client
//!   trickling them a byte at a time is disconnected then, instead of holding a connection
//!   (and delaying shutdown) forever.
//! - When `shutdown` completes, the listener closes, idle connections close, and requests in
//!   flight may finish within [`ServeOptions::shutdown_timeout`]. After that [`serve`]
//!   returns anyway and the connections still open are dropped when the runtime stops: the
//!   caller then flushes telemetry well within `docker stop`'s 10 s.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_service::Service;

/// Timeouts of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, how long requests in flight may take.
    pub shutdown_timeout: Duration,
}

/// How [`serve`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open at the deadline (dropped with the runtime).
    pub abandoned: usize,
    /// From the shutdown signal to the end.
    pub drained_in: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then drains for at most
/// `options.shutdown_timeout`. Each request carries `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Stopped {
    // Connections watch `signal_tx` close (when `signal_rx` is dropped) to start their
    // graceful shutdown; each holds a `close_rx` until it ends.
    let (signal_tx, signal_rx) = watch::channel(());
    let (close_tx, close_rx) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(
                        stream,
                        peer,
                        router.clone(),
                        options,
                        signal_tx.clone(),
                        close_rx.clone(),
                    ));
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    let started = Instant::now();
    drop(listener);
    drop(signal_rx);
    drop(close_rx);
    let open = close_tx.receiver_count();
    tracing::info!(
        open_connections = open,
        deadline_ms = options.shutdown_timeout.as_millis(),
        "shutting down"
    );
    let abandoned = match tokio::time::timeout(options.shutdown_timeout, close_tx.closed()).await {
        Ok(()) => 0,
        Err(_) => {
            let abandoned = close_tx.receiver_count();
            tracing::warn!(
                open_connections = abandoned,
                deadline_ms = options.shutdown_timeout.as_millis(),
                "shutdown deadline passed; dropping open connections"
            );
            abandoned
        }
    };
    Stopped {
        abandoned,
        drained_in: started.elapsed(),
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    options: ServeOptions,
    signal_tx: watch::Sender<()>,
    close_rx: watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { router.call(req).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let mut conn = pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    let mut signal = pin!(signal_tx.closed());
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            () = &mut signal, if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(close_rx);
}
