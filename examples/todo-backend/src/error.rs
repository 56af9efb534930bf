//! API errors: `{"error": {"code", "message"}}` with the matching status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not valid JSON or misses fields.
    #[error("{0}")]
    BadRequest(String),
    /// A field has a value outside its rules.
    #[error("{0}")]
    Validation(String),
    /// No or a bad session token.
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong email or password")]
    BadCredentials,
    /// The resource does not exist for this user.
    #[error("not found")]
    NotFound,
    /// The email is taken.
    #[error("an account with this email exists")]
    Conflict,
    #[error("too many attempts; retry in {0} s")]
    RateLimited(u64),
    /// The server is saturated (password hashing); retry in the given seconds. 503.
    #[error("the server is busy; retry in {0} s")]
    Busy(u64),
    /// Injected by the fault-injection knob.
    #[error("injected fault")]
    Chaos,
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("cache error")]
    Redis(#[from] redis::RedisError),
    /// Anything else.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict => (StatusCode::CONFLICT, "conflict"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Chaos => (StatusCode::INTERNAL_SERVER_ERROR, "injected_fault"),
            ApiError::Database(_) | ApiError::Redis(_) | ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // The details go to the log (with the trace id), not to the client.
            match &self {
                ApiError::Database(e) => tracing::error!(error = %e, "database error"),
                ApiError::Redis(e) => tracing::error!(error = %e, "redis error"),
                ApiError::Internal(e) => tracing::error!(error = %e, "internal error"),
                _ => tracing::warn!(code, "request failed"),
            }
        }
        let mut response = (
            status,
            Json(json!({"error": {"code": code, "message": self.to_string()}})),
        )
            .into_response();
        if let ApiError::RateLimited(secs) | ApiError::Busy(secs) = self
            && let Ok(v) = secs.to_string().parse()
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

/// JSON body extraction whose rejections use the API error shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                axum::extract::rejection::JsonRejection::JsonDataError(e) => {
                    ApiError::Validation(e.body_text())
                }
                other => ApiError::BadRequest(other.body_text()),
            }),
        }
    }
}
