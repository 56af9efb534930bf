//! Why the receiver turned a request away, and the response it answers with.

use axum::body::Body;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use obs_core::names::RumRejectReason;

/// A request the receiver did not accept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rejection {
    /// A preflight from an origin that is not on the allow-list.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The token bucket is empty.
    #[error("too many requests, retry after {retry_after} s")]
    RateLimited {
        /// Seconds until a token is available, 1..=30.
        retry_after: u64,
    },
    /// The body, as sent or after decompression, is larger than allowed.
    #[error("request body over {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// `Content-Encoding: gzip` but the body is not valid gzip.
    #[error("invalid gzip body: {0}")]
    BadGzip(std::io::Error),
    /// A content encoding other than gzip or identity.
    #[error("unsupported content encoding; send gzip or identity")]
    UnsupportedEncoding,
    /// The body stream failed before it ended.
    #[error("cannot read the request body")]
    BadBody,
    /// The body is not a Faro payload.
    #[error("invalid JSON payload: {0}")]
    BadJson(serde_json::Error),
    /// An API key is configured and the request's `x-api-key` is missing or different.
    #[error("missing or wrong API key")]
    Unauthorized,
    /// Every processing permit stayed taken while the request waited for one.
    #[error("too many batches in progress, retry later")]
    Overloaded,
    /// The body did not arrive in time.
    #[error("request body not received in time")]
    BodyTimeout,
    /// Processing the batch failed unexpectedly; nothing was recorded.
    #[error("internal error")]
    Internal,
}

impl Rejection {
    /// The `reason` label of `obs_rum_requests_rejected_total`.
    pub(crate) fn reason(&self) -> RumRejectReason {
        match self {
            Rejection::OriginNotAllowed => RumRejectReason::Origin,
            Rejection::RateLimited { .. } => RumRejectReason::RateLimited,
            Rejection::TooLarge { .. } => RumRejectReason::TooLarge,
            Rejection::BadGzip(_) => RumRejectReason::BadGzip,
            Rejection::UnsupportedEncoding => RumRejectReason::BadEncoding,
            Rejection::BadBody => RumRejectReason::BadBody,
            Rejection::BadJson(_) => RumRejectReason::BadJson,
            Rejection::Unauthorized => RumRejectReason::Unauthorized,
            Rejection::Overloaded => RumRejectReason::Overloaded,
            Rejection::BodyTimeout => RumRejectReason::Timeout,
            Rejection::Internal => RumRejectReason::Internal,
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Rejection::OriginNotAllowed => StatusCode::FORBIDDEN,
            Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::BadGzip(_)
            | Rejection::UnsupportedEncoding
            | Rejection::BadBody
            | Rejection::BadJson(_) => StatusCode::BAD_REQUEST,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Rejection::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8");
        match self {
            Rejection::RateLimited { retry_after } => {
                builder = builder.header(RETRY_AFTER, retry_after);
            }
            Rejection::Overloaded => builder = builder.header(RETRY_AFTER, 1),
            _ => {}
        }
        builder
            .body(Body::from(format!("{self}\n")))
            .unwrap_or_default()
    }
}

/// Why forwarding browser spans could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForwardError {
    /// The HTTP client could not be built (TLS roots, for one).
    #[error("cannot build the OTLP HTTP client: {0}")]
    Client(String),
    /// The OTLP headers in the environment are malformed, or a TLS file it names cannot be
    /// used.
    #[error("cannot read the OTLP settings: {0}")]
    Config(#[source] obs_core::Error),
    /// The exporter runtime could not be started, or the telemetry is shut down.
    #[error("cannot start forwarding on the exporter runtime: {0}")]
    Runtime(#[source] obs_core::Error),
}
