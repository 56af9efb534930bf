//! The README's custom-labels example: `cargo run -p obs-rs-axum --example custom_labels`.

use axum::{Extension, Router, routing::get};
use obs_axum::{CustomLabel, ObsLayer, ResponseHead, RouteRequest};

#[derive(Clone)]
struct Tenant(String); // set by your authentication layer
#[derive(Clone)]
struct Plan(&'static str); // set by the handler

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = obs_core::Telemetry::from_env("reports").init()?;
    let layer = ObsLayer::with_labels(
        &telemetry,
        [
            CustomLabel::request_header("api_version", "x-api-version").values(["v1", "v2"]),
            CustomLabel::request("tenant", |req: &RouteRequest<'_>| {
                req.extensions.get::<Tenant>().map(|t| t.0.as_str())
            })
            .values(["acme", "globex"]),
            CustomLabel::response("plan", |res: &ResponseHead<'_>| {
                res.extensions.get::<Plan>().map(|p| p.0)
            })
            .values(["free", "pro"]),
        ],
    )?;
    let app = Router::new()
        .route(
            "/report",
            get(|| async { (Extension(Plan("pro")), "report") }),
        )
        .layer(layer) // built before `metrics_router`, which shares its families
        .merge(obs_axum::metrics_router(&telemetry));
    axum::serve(tokio::net::TcpListener::bind("0.0.0.0:8080").await?, app).await?;
    Ok(())
}
