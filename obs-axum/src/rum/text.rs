//! Client text on its way to a log line or a span: scrubbed of secrets, control characters
//! replaced, cut to a length with a marker.

use obs_core::names::CUT_MARKER;
use obs_core::text;

use super::SHORT_FIELD_BYTES;
use super::redact::Redactions;

/// Bytes a string may have before redaction; past the cut, a secret split in two could slip
/// by, so redaction sees a little more than is kept.
const REDACTION_SLACK: usize = 256;

/// Cleans client text for a log line or a span.
pub(crate) struct Text<'s> {
    max: usize,
    redactions: &'s Redactions,
}

impl<'s> Text<'s> {
    pub(crate) fn new(max: usize, redactions: &'s Redactions) -> Self {
        Text { max, redactions }
    }

    /// `s` redacted, without control characters, cut to the configured length.
    pub(crate) fn clean(&self, s: &str) -> String {
        self.clean_to(s, self.max)
    }

    /// Like [`clean`](Self::clean), cut to [`SHORT_FIELD_BYTES`]: names, ids, per-item copies.
    pub(crate) fn short(&self, s: &str) -> String {
        self.clean_to(s, SHORT_FIELD_BYTES)
    }

    /// Like [`clean`](Self::clean), cut to `max` bytes (or the configured length if shorter).
    pub(crate) fn clean_to(&self, s: &str, max: usize) -> String {
        let max = max.min(self.max);
        let head = &s[..s.floor_char_boundary(max.saturating_add(REDACTION_SLACK))];
        let redacted = self.redactions.apply(head);
        let out: String = redacted
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if head.len() < s.len() {
            // Cut before redaction: marked even when redaction made it short enough.
            let mut kept = text::cut(&out, max.saturating_sub(CUT_MARKER.len()), "").into_owned();
            kept.push_str(CUT_MARKER);
            return kept;
        }
        text::cut(&out, max, CUT_MARKER).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_with_a_marker_on_a_char_boundary() {
        let r = Redactions::none();
        let t = Text::new(10, &r);
        assert_eq!(t.clean("short"), "short");
        assert_eq!(t.clean("ééééééééé"), "ééé…");
        assert_eq!(t.clean("0123456789"), "0123456789");
        assert_eq!(t.clean("0123456789a"), "0123456…");
        assert_eq!(t.clean("a\nb\u{0}c"), "a b c");
    }

    #[test]
    fn text_is_redacted_before_it_is_cut() {
        let r = Redactions::defaults();
        let t = Text::new(20, &r);
        assert_eq!(t.clean("mail bob@example.com now"), "mail [email] now");
        // The email straddles the cut: redaction sees past it, so no half address is kept.
        assert_eq!(t.clean("0123456789 bob@example.com"), "0123456789 [email]");
    }
}
