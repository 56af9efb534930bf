//! `cargo run -p todo-backend`: starts on SQLite with no other setup.

use std::process::ExitCode;

use todo_backend::config::Config;
use todo_backend::serve::{ServeOptions, serve};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("todo-backend: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let mut telemetry =
        obs_core::Telemetry::from_env("todo-backend").service_version(env!("CARGO_PKG_VERSION"));
    if let Some(id) = &config.instance_id {
        telemetry = telemetry.instance_id(id);
    }
    let telemetry = telemetry.init()?;
    // Tokio runtime health on /metrics: workers, tasks, queue depth and scheduling delay.
    telemetry
        .metrics()
        .runtime(&tokio::runtime::Handle::current())?;

    let app = todo_backend::build(&config, &telemetry).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "listening");
    let options = ServeOptions {
        header_read_timeout: config.limits.header_read_timeout,
        shutdown_timeout: config.limits.shutdown_timeout,
    };
    let stopped = serve(listener, app.router.clone(), options, shutdown_signal()).await;
    tracing::info!(
        abandoned_connections = stopped.abandoned,
        drained_ms = stopped.drained_in.as_millis(),
        "shut down"
    );
    drop(app);
    // Dropping the telemetry guard flushes spans and log lines.
    drop(telemetry);
    Ok(())
}

/// Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
