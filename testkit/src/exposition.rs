//! The Prometheus text exposition format, and OpenMetrics with its exemplars, read back
//! exactly.
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
    /// The exemplar after ` # ` (OpenMetrics only).
    pub exemplar: Option<Exemplar>,
}

/// An OpenMetrics exemplar: `# {trace_id="…",span_id="…"} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its labels, values unescaped.
    pub labels: BTreeMap<String, String>,
    /// The observed value.
    pub value: f64,
    /// Seconds since the Unix epoch, when given.
    pub timestamp: Option<f64>,
}

impl Exemplar {
    /// The value of label `key`, if the exemplar has it.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// Which format a line is read in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    OpenMetrics,
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
        Self::parse_as(text, Format::Text)
    }

    /// Parses an OpenMetrics exposition: samples may carry exemplars and timestamps are
    /// seconds; the last line must be `# EOF`.
    ///
    /// # Errors
    /// When a line is not a well-formed sample, or `# EOF` does not end the text.
    pub fn parse_openmetrics(text: &str) -> Result<Self, ExpositionError> {
        let lines = text.lines().count();
        if !text.ends_with("# EOF\n") && !text.ends_with("# EOF") {
            return Err(ExpositionError {
                line: lines,
                reason: "no `# EOF` at the end",
                text: text.lines().last().unwrap_or_default().to_owned(),
            });
        }
        Self::parse_as(text, Format::OpenMetrics)
    }

    fn parse_as(text: &str, format: Format) -> Result<Self, ExpositionError> {
        let samples = text
            .lines()
            .enumerate()
            .filter(|(_, line)| {
                let line = line.trim_start();
                !line.is_empty() && !line.starts_with('#')
            })
            .map(|(index, line)| {
                parse_sample(line, format).map_err(|reason| ExpositionError {
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
fn parse_sample(line: &str, format: Format) -> Result<Sample, &'static str> {
    let (line, exemplar) = match line.split_once(" # ") {
        Some((sample, exemplar)) if format == Format::OpenMetrics => {
            (sample, Some(parse_exemplar(exemplar)?))
        }
        _ => (line, None),
    };
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
        match format {
            Format::Text => timestamp
                .parse::<i64>()
                .map(drop)
                .map_err(|_| "timestamp is not an integer")?,
            Format::OpenMetrics => timestamp
                .parse::<f64>()
                .map(drop)
                .map_err(|_| "timestamp is not a number")?,
        }
    }
    if fields.next().is_some() {
        return Err("text after the timestamp");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        exemplar,
    })
}

/// What follows ` # ` on an OpenMetrics sample line.
fn parse_exemplar(text: &str) -> Result<Exemplar, &'static str> {
    let mut labels = BTreeMap::new();
    let rest = parse_labels(
        text.strip_prefix('{').ok_or("exemplar without labels")?,
        &mut labels,
    )?;
    let mut fields = rest.split_ascii_whitespace();
    let value = fields
        .next()
        .ok_or("exemplar without value")?
        .parse()
        .map_err(|_| "exemplar value is not a number")?;
    let timestamp = fields
        .next()
        .map(|t| t.parse().map_err(|_| "exemplar timestamp is not a number"))
        .transpose()?;
    if fields.next().is_some() {
        return Err("text after the exemplar");
    }
    Ok(Exemplar {
        labels,
        value,
        timestamp,
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
            ("a 1 # {t=\"x\"} 1", "timestamp is not an integer"),
        ] {
            let error = Exposition::parse(&format!("# ok\n{text}\n")).unwrap_err();
            assert_eq!((error.line, error.reason), (2, reason), "{text}");
        }
    }

    #[test]
    fn openmetrics_exemplars_are_read() {
        let text = "# TYPE d histogram\n\
            d_bucket{le=\"0.5\"} 1 # {trace_id=\"ab\",span_id=\"cd\"} 0.25 1700000000.123\n\
            d_bucket{le=\"+Inf\"} 2\n\
            d_count 2 1700000000.5\n\
            # EOF\n";
        let e = Exposition::parse_openmetrics(text).unwrap();
        let bucket = e.series("d_bucket").next().unwrap();
        let exemplar = bucket.exemplar.as_ref().unwrap();
        assert_eq!(exemplar.label("trace_id"), Some("ab"));
        assert_eq!(exemplar.label("span_id"), Some("cd"));
        assert_eq!(exemplar.value, 0.25);
        assert_eq!(exemplar.timestamp, Some(1_700_000_000.123));
        assert_eq!(e.value("d_count", &[]), Some(2.0));
        assert!(e.series("d_bucket").nth(1).unwrap().exemplar.is_none());
        let error = Exposition::parse_openmetrics("a 1\n").unwrap_err();
        assert_eq!(error.reason, "no `# EOF` at the end");
        let error = Exposition::parse_openmetrics("a 1 # {x} 1\n# EOF\n").unwrap_err();
        assert_eq!(error.reason, "label without `=`");
    }
}
