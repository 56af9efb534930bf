//! The small web page at `/`: plain HTML and JS, embedded in the binary, and the Grafana Faro
//! browser bundles it loads from `/vendor/`, served from the npm packages in `frontend/` when
//! they are installed (`npm install` there); without them the page runs without RUM.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("../../static/index.html");
const APP_JS: &str = include_str!("../../static/app.js");

/// Largest vendored file served, in bytes (the bundles are about 120 KB, their maps about 1 MB).
const MAX_VENDOR_BYTES: u64 = 16 * 1024 * 1024;

/// The files `/vendor/{file}` serves, and where they are under the frontend directory. Nothing
/// else is ever read, whatever the request asks for.
const VENDOR_FILES: &[(&str, &str, &str)] = &[
    (
        "faro-web-sdk.iife.js",
        "node_modules/@grafana/faro-web-sdk/dist/bundle/faro-web-sdk.iife.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "faro-web-sdk.iife.js.map",
        "node_modules/@grafana/faro-web-sdk/dist/bundle/faro-web-sdk.iife.js.map",
        "application/json",
    ),
    (
        "faro-web-tracing.iife.js",
        "node_modules/@grafana/faro-web-tracing/dist/bundle/faro-web-tracing.iife.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "faro-web-tracing.iife.js.map",
        "node_modules/@grafana/faro-web-tracing/dist/bundle/faro-web-tracing.iife.js.map",
        "application/json",
    ),
];

/// `GET /`.
pub async fn index() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        INDEX_HTML,
    )
}

/// `GET /app.js`.
pub async fn app_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        APP_JS,
    )
}

/// `GET /vendor/{file}`: one of the Faro browser bundles, read from the installed npm package
/// under [`AppState::frontend_dir`] at request time; 404 when it is not installed.
pub async fn vendor(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(&(_, relative, content_type)) = VENDOR_FILES.iter().find(|(name, _, _)| *name == file)
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let path = state.frontend_dir.join(relative);
    let read = tokio::task::spawn_blocking(move || {
        let size = std::fs::metadata(&path).ok()?.len();
        if size > MAX_VENDOR_BYTES {
            return None;
        }
        std::fs::read(&path).ok()
    })
    .await;
    match read {
        Ok(Some(bytes)) => (
            [
                (CONTENT_TYPE, content_type),
                (CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not installed: run `npm install` in examples/todo-backend/frontend\n",
        )
            .into_response(),
    }
}
