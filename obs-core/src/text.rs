//! Cutting text to a byte length: the one rule every obs crate applies to client-controlled
//! strings before they reach a span, a log line or a push.

use std::borrow::Cow;

/// `value` if it is at most `max` bytes; else its longest prefix that fits in `max` bytes
/// together with `marker`, followed by `marker`. Cut on a character boundary, so the result is
/// always valid UTF-8 and never longer than `max` (unless `marker` alone is).
///
/// ```
/// use obs_core::names::CUT_MARKER;
/// use obs_core::text::cut;
///
/// assert_eq!(cut("short", 16, CUT_MARKER), "short");
/// assert_eq!(cut("Mozilla/5.0 (X11; Linux x86_64)", 16, CUT_MARKER), "Mozilla/5.0 (…");
/// assert_eq!(cut("ééé", 5, ""), "éé");
/// ```
pub fn cut<'a>(value: &'a str, max: usize, marker: &str) -> Cow<'a, str> {
    if value.len() <= max {
        return Cow::Borrowed(value);
    }
    let end = value.floor_char_boundary(max.saturating_sub(marker.len()));
    let mut out = String::with_capacity(end + marker.len());
    out.push_str(&value[..end]);
    out.push_str(marker);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_char_boundaries_within_the_limit() {
        let long = "é".repeat(100);
        for max in 0..40 {
            let out = cut(&long, max, "…");
            assert!(out.len() <= max.max(3), "{max}: {}", out.len());
            assert!(out.ends_with('…'));
        }
        assert_eq!(cut("abcdef", 6, "…"), "abcdef");
        assert_eq!(cut("abcdefg", 6, "…"), "abc…");
        assert!(matches!(cut("abc", 3, "…"), Cow::Borrowed("abc")));
    }
}
