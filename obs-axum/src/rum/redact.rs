//! [`Redactions`]: patterns scrubbed from browser text before it is logged or forwarded, the
//! server-side counterpart of a Faro `beforeSend` filter.
//!
//! Browsers report what the page saw: an exception message quoting a form field, a log line
//! with a URL carrying `?token=`, a span attribute holding the user's email. The receiver
//! replaces such text before anything leaves it. The defaults cover email addresses, bearer
//! tokens, JWTs, `password=`/`token=`/`secret=`/`api_key=` style parameters and card numbers
//! (digit runs of 13 to 19 digits that pass the Luhn check, so timestamps and ids stay).

use std::borrow::Cow;
use std::fmt;

use regex::{Captures, Regex, RegexSet};

/// An ordered list of patterns and their replacements.
///
/// ```
/// use obs_axum::rum::Redactions;
///
/// let redactions = Redactions::defaults()
///     .with(r"\bcustomer-\d+\b", "[customer]")?;
/// assert_eq!(
///     redactions.apply("customer-42 <bob@example.com> sent token=abc123"),
///     "[customer] <[email]> sent token=[redacted]"
/// );
/// # Ok::<(), obs_axum::rum::RedactionError>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct Redactions {
    rules: Vec<Rule>,
    /// Every rule's pattern in one automaton: most text matches none, and one pass over it
    /// says so.
    any: RegexSet,
}

#[derive(Clone)]
struct Rule {
    regex: Regex,
    replacement: Replacement,
}

#[derive(Clone)]
enum Replacement {
    /// Regex replacement syntax: `$1` and `${name}` refer to groups.
    Text(String),
    /// Digit runs passing the Luhn check become `[card]`; others stay.
    Card,
}

/// A redaction pattern that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("invalid redaction pattern `{pattern}`: {source}")]
pub struct RedactionError {
    pattern: String,
    #[source]
    source: regex::Error,
}

/// Longest compiled pattern accepted, in bytes of the regex engine's memory.
const MAX_PATTERN_SIZE: usize = 1 << 20;

const DEFAULTS: &[(&str, &str)] = &[
    // JWTs first: their segments would otherwise be half-eaten by the parameter rule.
    (
        r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        "[jwt]",
    ),
    (r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+", "Bearer [redacted]"),
    (
        r#"(?i)\b(password|passwd|pwd|passphrase|secret|client_secret|token|access_token|refresh_token|id_token|api[_-]?key|apikey|sessionid|cookie)(\s*[=:]\s*)[^\s&;,"'<>]+"#,
        "${1}${2}[redacted]",
    ),
    (
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        "[email]",
    ),
];
const CARD: &str = r"\b\d(?:[ -]?\d){12,18}\b";

impl Redactions {
    /// The default patterns: JWTs, bearer tokens, secret parameters, email addresses, card
    /// numbers.
    pub fn defaults() -> Self {
        let mut rules: Vec<Rule> = DEFAULTS
            .iter()
            .filter_map(|(pattern, replacement)| {
                compile(pattern).ok().map(|regex| Rule {
                    regex,
                    replacement: Replacement::Text((*replacement).to_owned()),
                })
            })
            .collect();
        if let Ok(regex) = compile(CARD) {
            rules.push(Rule {
                regex,
                replacement: Replacement::Card,
            });
        }
        Self::from_rules(rules)
    }

    /// No patterns: text is only cut to length.
    pub fn none() -> Self {
        Self::from_rules(Vec::new())
    }

    fn from_rules(rules: Vec<Rule>) -> Self {
        // The patterns compiled one by one, so together they compile too; an empty set is the
        // fallback that can only make `apply` try every rule.
        let any = RegexSet::new(rules.iter().map(|r| r.regex.as_str()))
            .unwrap_or_else(|_| RegexSet::empty());
        Redactions { rules, any }
    }

    /// Adds `pattern` (the `regex` crate's syntax, linear time whatever the input), replaced
    /// by `replacement` (`$1`, `${name}` name groups).
    pub fn with(mut self, pattern: &str, replacement: &str) -> Result<Self, RedactionError> {
        let regex = compile(pattern).map_err(|source| RedactionError {
            pattern: pattern.to_owned(),
            source,
        })?;
        let mut rules = std::mem::take(&mut self.rules);
        rules.push(Rule {
            regex,
            replacement: Replacement::Text(replacement.to_owned()),
        });
        Ok(Self::from_rules(rules))
    }

    /// `text` with every pattern replaced, in order.
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        let matched = self.any.matches(text);
        let every = self.any.len() != self.rules.len();
        for (i, rule) in self.rules.iter().enumerate() {
            if !every && !matched.matched(i) {
                continue;
            }
            let replaced = match &rule.replacement {
                Replacement::Text(with) => rule.regex.replace_all(&out, with.as_str()),
                Replacement::Card => rule.regex.replace_all(&out, |c: &Captures<'_>| {
                    if luhn(&c[0]) {
                        "[card]".to_owned()
                    } else {
                        c[0].to_owned()
                    }
                }),
            };
            if let Cow::Owned(s) = replaced {
                out = Cow::Owned(s);
            }
        }
        out
    }
}

impl Default for Redactions {
    fn default() -> Self {
        Self::defaults()
    }
}

impl fmt::Debug for Redactions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| r.regex.as_str()))
            .finish()
    }
}

fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(MAX_PATTERN_SIZE)
        .build()
}

/// Whether the digits of `s` pass the Luhn check.
fn luhn(s: &str) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for d in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(d - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(s: &str) -> String {
        Redactions::defaults().apply(s).into_owned()
    }

    #[test]
    fn emails() {
        assert_eq!(
            scrub("user alice.o+x@mail.example.co.uk failed"),
            "user [email] failed"
        );
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            scrub("Authorization: Bearer abc.DEF-123_x~"),
            "Authorization: Bearer [redacted]"
        );
    }

    #[test]
    fn jwts() {
        assert_eq!(
            scrub("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature-1 end"),
            "jwt [jwt] end"
        );
    }

    #[test]
    fn secret_parameters() {
        assert_eq!(
            scrub("GET /cb?code=1&token=abc123&password=hunter2 secret: s3cr3t api_key=k"),
            "GET /cb?code=1&token=[redacted]&password=[redacted] secret: [redacted] api_key=[redacted]"
        );
    }

    #[test]
    fn card_numbers_that_pass_luhn_only() {
        // 4111 1111 1111 1111 is the classic Visa test number; the timestamp fails Luhn.
        assert_eq!(
            scrub("card 4111 1111 1111 1111, at 1732960000001"),
            "card [card], at 1732960000001"
        );
        assert_eq!(scrub("card 5500-0000-0000-0004"), "card [card]");
    }

    #[test]
    fn every_default_pattern_compiles() {
        let defaults = Redactions::defaults();
        assert_eq!(defaults.rules.len(), DEFAULTS.len() + 1);
        assert_eq!(defaults.any.len(), defaults.rules.len());
    }

    #[test]
    fn clean_text_is_borrowed() {
        let clean = "Cannot read properties of undefined (reading 'id')";
        assert!(matches!(
            Redactions::defaults().apply(clean),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn custom_patterns_and_errors() {
        let r = Redactions::none().with(r"ssn=(\d+)", "ssn=[ssn]").unwrap();
        assert_eq!(
            r.apply("ssn=123456789 bob@example.com"),
            "ssn=[ssn] bob@example.com"
        );
        let err = Redactions::none().with("(", "x").unwrap_err();
        assert!(err.to_string().starts_with("invalid redaction pattern `(`"));
    }
}
