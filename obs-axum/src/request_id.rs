//! `x-request-id`: honoured when the caller sent a sane one, generated otherwise.

use http::header::Entry;
use http::{HeaderMap, HeaderName, HeaderValue};
use obs_core::names::MAX_REQUEST_ID_LEN;
use obs_core::opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: the caller's `x-request-id` if it is sane (see [`is_sane`]), otherwise a
/// new one, written into `headers` (replacing every caller-sent value) so handlers see it.
pub(crate) fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    // One lookup for the check and the insert.
    match headers.entry(X_REQUEST_ID) {
        Entry::Occupied(mut sent) => {
            let mut values = sent.iter();
            if let (Some(existing), None) = (values.next(), values.next())
                && is_sane(existing.as_bytes())
            {
                return existing.clone();
            }
            let id = generate();
            // Replaces every value the caller sent.
            sent.insert(id.clone());
            id
        }
        Entry::Vacant(slot) => slot.insert(generate()).clone(),
    }
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

/// 128 random bits, from the thread's generator that OpenTelemetry draws trace ids from
/// (seeded from the OS): as unique as a trace id, without hashing a counter twice.
fn generate() -> HeaderValue {
    let bits = RandomIdGenerator::default().new_trace_id().to_bytes();
    let mut buf = [0u8; 32];
    hex(&bits, &mut buf);
    // The value goes into the request and the response: held by a reference count, its
    // clone is not a second allocation, as that of a copied slice would be. Hex digits are
    // always a valid header value.
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(buf))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Writes `bytes` as lowercase hex into `out`, two digits a byte, as far as `out` reaches.
pub(crate) fn hex(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*b)]);
    }
}

/// The two lowercase hex digits of every byte: one lookup a byte instead of two and a shift.
static HEX_PAIRS: [[u8; 2]; 256] = hex_pairs();

const fn hex_pairs() -> [[u8; 2]; 256] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [DIGITS[b >> 4], DIGITS[b & 0xf]];
        b += 1;
    }
    pairs
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
        // None sent: a new one, inserted for the handler.
        let mut headers = HeaderMap::new();
        let id = ensure(&mut headers);
        assert_eq!(id.len(), 32);
        assert_eq!(headers.get_all(&X_REQUEST_ID).iter().count(), 1);
        assert_eq!(headers[&X_REQUEST_ID], id);

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
        let ids: std::collections::HashSet<HeaderValue> = (0..1000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(
                id.as_bytes()
                    .iter()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            );
        }
    }
}
