//! `x-request-id`: honoured when the caller sent a sane one, generated otherwise.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use obs_core::names::MAX_REQUEST_ID_LEN;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the caller's `x-request-id` if it is sane (see [`is_sane`]), otherwise a
/// new one, written into `headers` (replacing every caller-sent value) so handlers see it.
pub(crate) fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    let mut sent = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(existing), None) = (sent.next(), sent.next())
        && is_sane(existing.as_bytes())
    {
        return existing.clone();
    }
    let id = generate();
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

/// One to [`MAX_REQUEST_ID_LEN`] bytes of ASCII letters, digits and `-_.:;=+/@`: what UUIDs,
/// hex and base64 ids, W3C trace ids and `X-Amzn-Trace-Id` values use, and nothing that needs
/// escaping in a log line or a header.
fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:;=+/@".contains(b))
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
    hex(&hi.to_be_bytes(), &mut buf[..16]);
    hex(&lo.to_be_bytes(), &mut buf[16..]);
    // The value goes into the request and the response: held by a reference count, its
    // clone is not a second allocation, as that of a copied slice would be. Hex digits are
    // always a valid header value.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(buf))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Writes `bytes` as lowercase hex into `out`, two digits a byte, as far as `out` reaches.
pub(crate) fn hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        let mut out = [b'.'; 8];
        hex(&[0x00, 0x0f, 0xa5, 0xff], &mut out);
        assert_eq!(&out, b"000fa5ff");
        let mut short = [b'.'; 3];
        hex(&[0xab, 0xcd], &mut short);
        assert_eq!(&short, b"ab.");
    }

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
    fn odd_characters_long_and_repeated_ids_are_replaced() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        let kept = [
            "0af7651916cd43dd8448eb211c80319c",
            "7d9f2c1e-3b4a-4c5d-8e6f-1a2b3c4d5e6f",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "dXNlcjpwYXNz+/==",
            longest.as_str(),
        ];
        for id in kept {
            let mut headers = HeaderMap::new();
            headers.insert(X_REQUEST_ID, HeaderValue::from_str(id).unwrap());
            assert_eq!(ensure(&mut headers), id);
        }
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let replaced = [
            "",
            too_long.as_str(),
            "{\"inject\":1}",
            "<script>",
            "a b",
            "id\\n",
            "ünïcode",
        ];
        for id in replaced {
            let mut headers = HeaderMap::new();
            headers.insert(
                X_REQUEST_ID,
                HeaderValue::from_bytes(id.as_bytes()).unwrap(),
            );
            let new = ensure(&mut headers);
            assert_eq!(new.len(), 32, "{id:?}");
            assert_ne!(new.as_bytes(), id.as_bytes());
            assert_eq!(headers.get_all(&X_REQUEST_ID).iter().count(), 1);
            assert_eq!(headers[&X_REQUEST_ID], new);
        }
        // Two ids: which one is meant is unclear, so neither is echoed.
        let mut headers = HeaderMap::new();
        headers.append(X_REQUEST_ID, HeaderValue::from_static("one"));
        headers.append(X_REQUEST_ID, HeaderValue::from_static("two"));
        let new = ensure(&mut headers);
        assert_eq!(new.len(), 32);
        assert_eq!(headers.get_all(&X_REQUEST_ID).iter().count(), 1);
    }

    #[test]
    fn generated_ids_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
    }
}
