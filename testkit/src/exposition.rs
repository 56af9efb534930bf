//! The Prometheus text exposition format, read back exactly.
//!
//! Each sample line becomes a [`Sample`]: its name, its labels (unescaped) and its value. Lookups
//! compare names and label values whole, so `todo_logins_total` never answers for
//! `todo_logins_total_created`, and a label subset that fits two series is an error, not the
//! first line that happens to match.

use std::collections::BTreeMap;

/// One sample line of an exposition: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name, with any `_bucket`, `_sum`, `_count` or `_total` suffix.
    pub name: String,
    /// The labels, values unescaped.
    pub labels: BTreeMap<String, String>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if the sample has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Whether the sample has every label of `subset`, with those values.
    pub fn has_labels(&self, subset: &[(&str, &str)]) -> bool {
        subset
            .iter()
            .all(|(key, value)| self.label(key) == Some(*value))
    }

    /// Whether the sample's labels are exactly `labels`, in any order.
    pub fn has_exactly(&self, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len() && self.has_labels(labels)
    }
}

/// A line that is not a sample, a comment or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exposition line {line}: {reason}: {text:?}")]
pub struct ExpositionError {
    /// The line number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
    /// The line.
    pub text: String,
}

/// A parsed text exposition: every sample, in the order written.
///
/// ```
/// # fn main() -> Result<(), obs_testkit::ExpositionError> {
/// let exposition = obs_testkit::Exposition::parse(
///     "# TYPE logins_total counter\n\
///      logins_total{result=\"success\"} 3\n\
///      logins_total{result=\"bad_credentials\"} 1\n",
/// )?;
/// assert_eq!(exposition.value("logins_total", &[("result", "success")]), Some(3.0));
/// assert_eq!(exposition.sum("logins_total"), 4.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses `text`, skipping `#` comments and blank lines.
    ///
    /// # Errors
    /// When a line is not a well-formed sample.
    pub fn parse(text: &str) -> Result<Self, ExpositionError> {
        let samples = text
            .lines()
            .enumerate()
            .filter(|(_, line)| {
                let line = line.trim_start();
                !line.is_empty() && !line.starts_with('#')
            })
            .map(|(index, line)| {
                parse_sample(line).map_err(|reason| ExpositionError {
                    line: index + 1,
                    reason,
                    text: line.to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Exposition { samples })
    }

    /// Every sample, in the order written.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The samples named exactly `name`, whatever their labels.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The value of the sample `name` whose labels are exactly `labels` (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series(name)
            .find(|s| s.has_exactly(labels))
            .map(|s| s.value)
    }

    /// The value of the one sample `name` that has every label of `subset`; `None` when no
    /// sample has them.
    ///
    /// # Panics
    /// When more than one sample has them: the subset does not name one series.
    pub fn value_matching(&self, name: &str, subset: &[(&str, &str)]) -> Option<f64> {
        let mut matching = self.series(name).filter(|s| s.has_labels(subset));
        let first = matching.next()?;
        let others: Vec<&Sample> = matching.collect();
        assert!(
            others.is_empty(),
            "{name} with {subset:?} is ambiguous: {:?} and {:?}",
            first.labels,
            others.iter().map(|s| &s.labels).collect::<Vec<_>>()
        );
        Some(first.value)
    }

    /// The sum of every sample named exactly `name`, over all label sets (0 when there is none).
    pub fn sum(&self, name: &str) -> f64 {
        self.series(name).map(|s| s.value).sum()
    }
}

/// One sample line, already known not to be a comment or blank.
fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("no metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value: f64 = value.parse().map_err(|_| "value is not a number")?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| "timestamp is not an integer")?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels after `{`, into `labels`; returns what follows the closing `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, &'static str> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        if rest.is_empty() {
            return Err("no closing `}`");
        }
        let (key, after_key) = rest.split_once('=').ok_or("label without `=`")?;
        let key = key.trim();
        if key.is_empty() {
            return Err("empty label name");
        }
        let mut chars = after_key
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value without quotes")?
            .chars();
        let mut value = String::new();
        loop {
            match chars.next().ok_or("unterminated label value")? {
                '"' => break,
                '\\' => match chars.next().ok_or("unterminated label value")? {
                    'n' => value.push('\n'),
                    escaped @ ('\\' | '"') => value.push(escaped),
                    _ => return Err("unknown escape in a label value"),
                },
                c => value.push(c),
            }
        }
        let after_value = chars.as_str();
        if labels.insert(key.to_owned(), value).is_some() {
            return Err("label given twice");
        }
        rest = after_value.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{method=\"GET\",route=\"/a\"} 3
http_requests_total{method=\"POST\",route=\"/a\"} 1
http_requests_total_created{method=\"GET\",route=\"/a\"} 1700000000

signups_total 2
odd{v=\"a \\\"quoted\\\", \\\\ and\\nnewline}\",w=\"x\"} 1.5 1700000000000
duration_bucket{le=\"+Inf\"} +Inf
";

    #[test]
    fn samples_are_read_whole() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(e.samples().len(), 6);
        assert_eq!(
            e.value(
                "http_requests_total",
                &[("route", "/a"), ("method", "POST")]
            ),
            Some(1.0)
        );
        assert_eq!(e.value("signups_total", &[]), Some(2.0));
        assert_eq!(
            e.value(
                "odd",
                &[("v", "a \"quoted\", \\ and\nnewline}"), ("w", "x")]
            ),
            Some(1.5)
        );
        assert_eq!(
            e.value("duration_bucket", &[("le", "+Inf")]),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn lookups_do_not_match_prefixes_or_partial_label_sets() {
        let e = Exposition::parse(TEXT).unwrap();
        // A label subset is not the exact set.
        assert_eq!(e.value("http_requests_total", &[("method", "GET")]), None);
        // A longer name is another metric.
        assert_eq!(e.sum("http_requests_total"), 4.0);
        assert_eq!(e.series("http_requests").count(), 0);
        assert_eq!(
            e.value_matching("http_requests_total", &[("method", "GET")]),
            Some(3.0)
        );
        assert_eq!(
            e.value_matching("http_requests_total", &[("method", "PUT")]),
            None
        );
    }

    #[test]
    #[should_panic(expected = "ambiguous")]
    fn a_subset_fitting_two_series_is_refused() {
        let e = Exposition::parse(TEXT).unwrap();
        e.value_matching("http_requests_total", &[("route", "/a")]);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line_number() {
        for (text, reason) in [
            ("a{b=\"c\"", "no closing `}`"),
            ("a{b=\"c", "unterminated label value"),
            ("a{b=\"c\"} x", "value is not a number"),
            ("a{b=c} 1", "label value without quotes"),
            ("a{b=\"\\t\"} 1", "unknown escape in a label value"),
            ("a{b=\"1\",b=\"2\"} 1", "label given twice"),
            ("a", "no value"),
            ("a 1 2 3", "text after the timestamp"),
        ] {
            let error = Exposition::parse(&format!("# ok\n{text}\n")).unwrap_err();
            assert_eq!((error.line, error.reason), (2, reason), "{text}");
        }
    }
}
