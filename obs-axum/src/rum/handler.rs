//! The request pipeline: CORS → API key → per-client and global rate limits → a processing
//! permit → body (size, time) → off the async workers: gzip, size again, JSON with caps,
//! per-app limit, idempotency, record → `202 ok`.

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use flate2::read::MultiGzDecoder;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracing::{Dispatch, Span};

use super::batch;
use super::limits;
use super::payload::Payload;
use super::rejection::Rejection;
use super::shared::Shared;
use super::{BODY_READ_TIMEOUT, PERMIT_WAIT};

/// The header carrying the SDK's API key.
const X_API_KEY: &str = "x-api-key";
/// The header the SDK repeats on every retry of one batch.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Request headers a cross-origin SDK may send.
const ALLOWED_HEADERS: &str =
    "content-type, content-encoding, x-api-key, x-faro-session-id, idempotency-key";

/// `OPTIONS`: a CORS preflight.
pub(crate) async fn preflight(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response<Body> {
    let Some(origin) = allowed_origin(&shared, &headers) else {
        return reject(&shared, Rejection::OriginNotAllowed);
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    h.insert(VARY, HeaderValue::from_static("origin"));
    response
}

/// `POST`: one Faro batch.
pub(crate) async fn collect(State(shared): State<Arc<Shared>>, request: Request) -> Response<Body> {
    let client = shared.trusted_proxies.client_ip_of(&request);
    let (parts, body) = request.into_parts();
    let origin = allowed_origin(&shared, &parts.headers);
    let mut response = match accept(&shared, client, parts.headers, body).await {
        Ok(()) => {
            let mut ok = Response::new(Body::from("ok"));
            *ok.status_mut() = StatusCode::ACCEPTED;
            ok.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            ok
        }
        Err(rejection) => reject(&shared, rejection),
    };
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(VARY, HeaderValue::from_static("origin"));
    }
    response
}

async fn accept(
    shared: &Arc<Shared>,
    client: Option<std::net::IpAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<(), Rejection> {
    // Cheapest checks first, and the key before any token is taken, so requests without the
    // key can neither cost a decompression nor drain the legitimate senders' buckets.
    if let Some(key) = &shared.api_key
        && !headers
            .get(X_API_KEY)
            .is_some_and(|given| constant_time_eq(given.as_bytes(), key))
    {
        return Err(Rejection::Unauthorized);
    }
    let now = Instant::now();
    // The client's own bucket before the shared one: a flooding client empties only its own.
    if let Some(client) = client {
        shared
            .client_limiter
            .check(client, now)
            .map_err(|retry_after| Rejection::RateLimited { retry_after })?;
    }
    if !shared.per_app_rate_limit {
        shared
            .limiter
            .check_global(now)
            .map_err(|retry_after| Rejection::RateLimited { retry_after })?;
    }
    let permit = tokio::time::timeout(PERMIT_WAIT, shared.permits.clone().acquire_owned())
        .await
        .map_err(|_| Rejection::Overloaded)?
        .map_err(|_| Rejection::Overloaded)?;
    let bytes = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        read_body(shared.max_body_bytes, &headers, body),
    )
    .await
    .map_err(|_| Rejection::BodyTimeout)??;
    // Decompressing, parsing and recording are CPU work bounded by the body limit: they run
    // on the blocking pool, at most `max_concurrent_batches` at once, so the async workers
    // keep serving every other route meanwhile.
    // The events of the batch belong to this request: same subscriber, same span.
    let shared = Arc::clone(shared);
    let span = Span::current();
    // A request the sampler dropped has no span, only an unsampled OpenTelemetry context:
    // it goes along too, so the batch's log lines keep the request's trace id.
    let context = opentelemetry::Context::current();
    let dispatch = tracing::dispatcher::get_default(Dispatch::clone);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _context = context.attach();
        tracing::dispatcher::with_default(&dispatch, || {
            span.in_scope(|| process(&shared, &headers, bytes))
        })
    })
    .await
    .map_err(|_| Rejection::Internal)?
}

/// Decodes, parses and records one batch. Runs on the blocking pool.
fn process(shared: &Shared, headers: &HeaderMap, bytes: Vec<u8>) -> Result<(), Rejection> {
    let bytes = decode(shared.max_body_bytes, headers, bytes)?;
    // serde reads a struct from an array too; a batch is always an object.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(Rejection::BadJson(serde::de::Error::custom(
            "expected a JSON object",
        )));
    }
    let (payload, skipped) =
        limits::parse::<Payload>(shared.limits, &bytes).map_err(Rejection::BadJson)?;
    drop(bytes);
    let app_name = batch::app_label(shared, &payload);
    let now = Instant::now();
    if shared.per_app_rate_limit {
        shared
            .limiter
            .check_key(app_name, now)
            .map_err(|retry_after| Rejection::RateLimited { retry_after })?;
    }
    if let Some(key) = headers.get(IDEMPOTENCY_KEY).and_then(|v| v.to_str().ok())
        && !key.is_empty()
        && !shared.batches_seen.insert(key, now)
    {
        batch::duplicate_batch(shared, &payload);
        return Ok(());
    }
    batch::record(shared, payload, skipped, now);
    Ok(())
}

/// The body as sent, at most `limit` bytes.
async fn read_body(limit: usize, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Rejection> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(error) if error.is::<LengthLimitError>() => Err(Rejection::TooLarge { limit }),
        Err(_) => Err(Rejection::BadBody),
    }
}

/// The body decompressed per `Content-Encoding`, never more than `limit` bytes.
fn decode(limit: usize, headers: &HeaderMap, bytes: Vec<u8>) -> Result<Vec<u8>, Rejection> {
    let encoding = headers
        .get(CONTENT_ENCODING)
        // A value that is not visible ASCII names no coding we know.
        .map(|v| v.to_str().map(str::trim).unwrap_or("?"));
    match encoding {
        None | Some("") => Ok(bytes),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(bytes),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => {
            gunzip(&bytes, limit)
        }
        Some(_) => Err(Rejection::UnsupportedEncoding),
    }
}

/// Decompresses gzip, stopping one byte past `limit`.
fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Rejection> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    // Typical JSON compresses about tenfold; start there, let the cap bound the growth.
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(10).min(limit));
    MultiGzDecoder::new(compressed)
        .take(cap)
        .read_to_end(&mut out)
        .map_err(Rejection::BadGzip)?;
    if out.len() > limit {
        return Err(Rejection::TooLarge { limit });
    }
    Ok(out)
}

/// The request's `Origin` if it is on the allow-list.
fn allowed_origin(shared: &Shared, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    shared
        .origin_allowed(origin.to_str().ok()?)
        .then(|| origin.clone())
}

fn reject(shared: &Shared, rejection: Rejection) -> Response<Body> {
    if let Some(metrics) = &shared.metrics {
        metrics.requests_rejected(rejection.reason()).inc();
    }
    tracing::debug!(target: "obs_axum::rum", reason = rejection.reason().as_str(), error = %rejection, "rejected a RUM batch");
    rejection.into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gunzip_is_capped() {
        let bomb = gzip(&vec![b' '; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert!(matches!(
            gunzip(&bomb, 1000),
            Err(Rejection::TooLarge { limit: 1000 })
        ));
        assert_eq!(gunzip(&bomb, 1 << 20).unwrap().len(), 1 << 20);
        assert!(matches!(
            gunzip(b"not gzip", 1000),
            Err(Rejection::BadGzip(_))
        ));
    }

    #[test]
    fn api_keys_compare_whole() {
        assert!(constant_time_eq(b"key", b"key"));
        assert!(!constant_time_eq(b"key", b"kez"));
        assert!(!constant_time_eq(b"ke", b"key"));
    }
}
