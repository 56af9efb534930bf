//! `x-request-id`: honoured when the caller sent a sane one, generated otherwise.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied id kept; longer ones are replaced.
const MAX_LEN: usize = 128;

/// The request's id: the caller's `x-request-id` if it is printable ASCII of sane length,
/// otherwise a new one, written into `headers` so handlers see it.
pub(crate) fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(existing) = headers.get(&X_REQUEST_ID)
        && !existing.is_empty()
        && existing.len() <= MAX_LEN
        && existing.as_bytes().iter().all(u8::is_ascii_graphic)
    {
        return existing.clone();
    }
    let id = generate();
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

/// 128 bits, unique per process (a counter) and across processes (random keys).
fn generate() -> HeaderValue {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(RandomState::new);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = keys.hash_one((n, 0u8));
    let lo = keys.hash_one((n, 1u8));
    let mut buf = [0u8; 32];
    hex(hi, &mut buf[..16]);
    hex(lo, &mut buf[16..]);
    // Hex digits are always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_bad_ones() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(ensure(&mut headers), "abc-123");

        let mut headers = HeaderMap::new();
        headers.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&"x".repeat(500)).unwrap(),
        );
        let id = ensure(&mut headers);
        assert_eq!(id.len(), 32);
        assert_eq!(headers[&X_REQUEST_ID], id);
    }

    #[test]
    fn generated_ids_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
    }
}
