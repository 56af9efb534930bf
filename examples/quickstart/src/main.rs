use axum::{Router, routing::get};
use obs_core::Telemetry;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs, traces and the metrics registry, configured from OTEL_* / RUST_LOG / LOKI_URL.
    let telemetry = Telemetry::from_env("todo-backend")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init()?;

    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app(&telemetry)).await?;
    Ok(())
    // `telemetry` drops here: queued spans and log lines are flushed.
}

fn app(telemetry: &Telemetry) -> Router {
    Router::new()
        .route("/todos/{id}", get(|| async { "todo" }))
        .layer(obs_axum::ObsLayer::new(telemetry)) // the one layer call
        .merge(obs_axum::metrics_router(telemetry)) // GET /metrics
}

#[cfg(test)]
mod tests;
