//! The OpenMetrics 1.0 text format, written from the families the `prometheus` registry
//! gathers, with the exemplars of `exemplars.rs` on histogram buckets.
//!
//! What differs from the Prometheus text format, as the OpenMetrics specification asks:
//! a counter family is named without `_total` and its sample with it; untyped families are
//! `unknown`; `# HELP` escapes double quotes too; timestamps are seconds; `+Inf`, `-Inf` and
//! `NaN` are spelled so; the exposition ends with `# EOF`. Sample names, label values and
//! `le`/`quantile` values are written as the text format writes them, so a scrape in either
//! format produces the same series.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use crate::exemplars::{
    Exemplar, ExemplarFamily, ExemplarIndex, LabelValues, SeriesExemplars, WallClock,
};

/// Counter samples end with this; the family name is the sample name without it.
const TOTAL: &str = "_total";

/// Writes `families` in the OpenMetrics text format into `out`, ending with `# EOF`.
///
/// Fails, as the `prometheus` text encoder does, on a family without a name or without
/// metrics.
pub(crate) fn encode(
    families: &[MetricFamily],
    exemplars: &ExemplarIndex,
    out: &mut Vec<u8>,
) -> Result<(), prometheus::Error> {
    let names: HashSet<&str> = families.iter().map(MetricFamily::name).collect();
    let with_exemplars: Vec<_> = exemplars
        .families()
        .into_iter()
        .map(|family| {
            let snapshot = family.snapshot();
            (family, snapshot)
        })
        .collect();
    let clock = WallClock::now();
    let mut line = String::with_capacity(256);
    for family in families {
        if family.name().is_empty() {
            return Err(prometheus::Error::Msg(
                "MetricFamily has no name".to_owned(),
            ));
        }
        if family.get_metric().is_empty() {
            return Err(prometheus::Error::Msg(format!(
                "MetricFamily {} has no metrics",
                family.name()
            )));
        }
        let slots = with_exemplars
            .iter()
            .find(|(f, _)| f.name() == family.name())
            .map(|(f, snapshot)| Joined::new(f, snapshot, clock));
        write_family(family, &names, slots.as_ref(), &mut line);
        out.write_all(line.as_bytes())?;
        line.clear();
    }
    out.write_all(b"# EOF\n")?;
    Ok(())
}

/// The exemplar slots of one family, found by the label values of a gathered metric.
struct Joined<'a> {
    label_names: &'a [Box<str>],
    series: HashMap<Vec<&'a str>, &'a SeriesExemplars>,
    /// Read once for the whole exposition.
    clock: WallClock,
}

impl<'a> Joined<'a> {
    fn new(
        family: &'a ExemplarFamily,
        snapshot: &'a [(LabelValues, Arc<SeriesExemplars>)],
        clock: WallClock,
    ) -> Self {
        let series = snapshot
            .iter()
            .map(|(values, slots)| (values.iter().map(|v| &**v).collect(), &**slots))
            .collect();
        Joined {
            label_names: family.label_names(),
            series,
            clock,
        }
    }

    /// The slots of the series with `labels`; labels the family does not know (constant
    /// labels of the registry) are left out of the match.
    fn find(&self, labels: &[LabelPair]) -> Option<(&SeriesExemplars, &WallClock)> {
        let key = self
            .label_names
            .iter()
            .map(|name| {
                labels
                    .iter()
                    .find(|pair| pair.name() == &**name)
                    .map_or("", LabelPair::value)
            })
            .collect::<Vec<&str>>();
        self.series.get(&key).map(|slots| (*slots, &self.clock))
    }
}

fn write_family(
    family: &MetricFamily,
    names: &HashSet<&str>,
    slots: Option<&Joined<'_>>,
    out: &mut String,
) {
    let name = family.name();
    let (family_name, om_type) = match family.get_field_type() {
        MetricType::COUNTER => match name.strip_suffix(TOTAL) {
            // `foo_total` is the counter family `foo`, unless a family of that name exists.
            Some(base) if !base.is_empty() && !names.contains(base) => (base, "counter"),
            // A counter named without `_total` would have to change its sample name to
            // become an OpenMetrics counter; as `unknown` it keeps it.
            _ => (name, "unknown"),
        },
        MetricType::GAUGE => (name, "gauge"),
        MetricType::HISTOGRAM => (name, "histogram"),
        MetricType::SUMMARY => (name, "summary"),
        MetricType::UNTYPED => (name, "unknown"),
    };
    if !family.help().is_empty() {
        let _ = writeln!(out, "# HELP {family_name} {}", Escaped(family.help()));
    }
    let _ = writeln!(out, "# TYPE {family_name} {om_type}");
    for metric in family.get_metric() {
        let labels = metric.get_label();
        match family.get_field_type() {
            MetricType::COUNTER => {
                sample(
                    out,
                    name,
                    labels,
                    None,
                    metric.get_counter().get_value(),
                    metric,
                );
            }
            MetricType::GAUGE => {
                sample(
                    out,
                    name,
                    labels,
                    None,
                    metric.get_gauge().get_value(),
                    metric,
                );
            }
            MetricType::UNTYPED => {
                // The only accessor of the proto (the crate's own text encoder rejects
                // untyped families; OpenMetrics has `unknown` for them).
                #[allow(deprecated)]
                let value = metric.get_untyped().get_value();
                sample(out, name, labels, None, value, metric);
            }
            MetricType::SUMMARY => {
                let summary = metric.get_summary();
                for q in summary.get_quantile() {
                    let quantile = q.quantile().to_string();
                    let extra = Some(("quantile", quantile.as_str()));
                    sample(out, name, labels, extra, q.value(), metric);
                }
                let sum = format!("{name}_sum");
                sample(out, &sum, labels, None, summary.sample_sum(), metric);
                let count = format!("{name}_count");
                let n = summary.sample_count() as f64;
                sample(out, &count, labels, None, n, metric);
            }
            MetricType::HISTOGRAM => {
                let exemplars = slots.and_then(|s| s.find(labels));
                histogram(out, name, metric, exemplars);
            }
        }
    }
}

fn histogram(
    out: &mut String,
    name: &str,
    metric: &Metric,
    slots: Option<(&SeriesExemplars, &WallClock)>,
) {
    let h = metric.get_histogram();
    let labels = metric.get_label();
    let bucket = format!("{name}_bucket");
    let exemplar = |upper_bound: f64| slots.and_then(|(s, clock)| s.bucket(upper_bound, clock));
    let mut inf_seen = false;
    for b in h.get_bucket() {
        let upper_bound = b.upper_bound();
        inf_seen |= upper_bound == f64::INFINITY;
        let le = upper_bound.to_string();
        let le = if upper_bound == f64::INFINITY {
            "+Inf"
        } else {
            le.as_str()
        };
        let count = b.cumulative_count() as f64;
        sample_line(out, &bucket, labels, Some(("le", le)), count, metric);
        finish(out, exemplar(upper_bound).as_ref());
    }
    if !inf_seen {
        let count = h.get_sample_count() as f64;
        sample_line(out, &bucket, labels, Some(("le", "+Inf")), count, metric);
        finish(out, exemplar(f64::INFINITY).as_ref());
    }
    let count = format!("{name}_count");
    sample(
        out,
        &count,
        labels,
        None,
        h.get_sample_count() as f64,
        metric,
    );
    let sum = format!("{name}_sum");
    sample(out, &sum, labels, None, h.get_sample_sum(), metric);
}

/// One sample line without exemplar.
fn sample(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: f64,
    metric: &Metric,
) {
    sample_line(out, name, labels, extra, value, metric);
    finish(out, None);
}

/// A sample line up to its timestamp, without the line end.
fn sample_line(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    value: f64,
    metric: &Metric,
) {
    out.push_str(name);
    let mut separator = '{';
    for pair in labels {
        let _ = write!(
            out,
            "{separator}{}=\"{}\"",
            pair.name(),
            Escaped(pair.value())
        );
        separator = ',';
    }
    if let Some((label, value)) = extra {
        let _ = write!(out, "{separator}{label}=\"{}\"", Escaped(value));
        separator = ',';
    }
    if separator == ',' {
        out.push('}');
    }
    out.push(' ');
    push_float(out, value);
    let timestamp_ms = metric.timestamp_ms();
    if timestamp_ms != 0 {
        out.push(' ');
        push_seconds(out, timestamp_ms.unsigned_abs(), timestamp_ms < 0);
    }
}

/// Ends a sample line, with ` # {trace_id="…",span_id="…"} value timestamp` when there is an
/// exemplar. The label set is 63 characters, within the 128 the specification allows.
fn finish(out: &mut String, exemplar: Option<&Exemplar>) {
    if let Some(e) = exemplar {
        let _ = write!(
            out,
            " # {{trace_id=\"{}\",span_id=\"{}\"}} ",
            e.span.trace_id(),
            e.span.span_id()
        );
        push_float(out, e.value);
        out.push(' ');
        push_timestamp(out, e.timestamp);
    }
    out.push('\n');
}

/// A float as the OpenMetrics ABNF spells it: `+Inf`, `-Inf`, `NaN`, otherwise as the
/// Prometheus text encoder writes it.
fn push_float(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{value}");
    }
}

fn push_seconds(out: &mut String, ms: u64, negative: bool) {
    let sign = if negative { "-" } else { "" };
    let _ = write!(out, "{sign}{}.{:03}", ms / 1000, ms % 1000);
}

fn push_timestamp(out: &mut String, since_epoch: Duration) {
    let _ = write!(
        out,
        "{}.{:03}",
        since_epoch.as_secs(),
        since_epoch.subsec_millis()
    );
}

/// A label value or help text with `\`, `"` and line feeds escaped.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['\\', '"', '\n']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exemplars::{ExemplarFamily, SampledSpan};
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use prometheus::{CounterVec, Gauge, HistogramOpts, HistogramVec, IntCounter, Opts, Registry};

    fn sampled() -> Option<SampledSpan> {
        SampledSpan::from_span_context(&SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn encode_string(registry: &Registry, index: &ExemplarIndex) -> String {
        let mut out = Vec::new();
        encode(&registry.gather(), index, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Replaces exemplar timestamps (wall clock) with `T`.
    fn mask_timestamps(text: &str) -> String {
        text.lines()
            .map(|line| match line.split_once(" # {") {
                Some((head, tail)) => {
                    let (exemplar, _ts) = tail.rsplit_once(' ').unwrap();
                    format!("{head} # {{{exemplar} T\n")
                }
                None => format!("{line}\n"),
            })
            .collect()
    }

    #[test]
    fn families_samples_and_exemplars_follow_the_specification() {
        let registry = Registry::new();
        let index = ExemplarIndex::default();
        let requests = CounterVec::new(
            Opts::new(
                "app_requests_total",
                "Requests \"served\"\nby path \\ kind.",
            ),
            &["kind"],
        )
        .unwrap();
        let legacy = IntCounter::new("app_legacy", "A counter without the suffix.").unwrap();
        let temperature = Gauge::new("app_temperature_celsius", "Temperature.").unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("app_latency_seconds", "Latency.").buckets(vec![0.1, 1.0]),
            &["route"],
        )
        .unwrap();
        registry.register(Box::new(requests.clone())).unwrap();
        registry.register(Box::new(legacy.clone())).unwrap();
        registry.register(Box::new(temperature.clone())).unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        let family = ExemplarFamily::new("app_latency_seconds", &["route"], &[0.1, 1.0]);
        index.add(family.clone());

        requests.with_label_values(&["a\"b\\c\nd"]).inc_by(2.0);
        legacy.inc();
        temperature.set(f64::NEG_INFINITY);
        let todos = family.series(latency.with_label_values(&["/todos"]), &["/todos"]);
        todos.observe_with_exemplar(0.25, sampled());
        todos.observe(0.0625);
        todos.observe_with_exemplar(3.5, sampled());
        let other = family.series(latency.with_label_values(&["/other"]), &["/other"]);
        other.observe_with_exemplar(0.5, None);

        let text = encode_string(&registry, &index);
        let expected = r#"# HELP app_latency_seconds Latency.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{route="/other",le="0.1"} 0
app_latency_seconds_bucket{route="/other",le="1"} 1
app_latency_seconds_bucket{route="/other",le="+Inf"} 1
app_latency_seconds_count{route="/other"} 1
app_latency_seconds_sum{route="/other"} 0.5
app_latency_seconds_bucket{route="/todos",le="0.1"} 1
app_latency_seconds_bucket{route="/todos",le="1"} 2 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.25 T
app_latency_seconds_bucket{route="/todos",le="+Inf"} 3 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 3.5 T
app_latency_seconds_count{route="/todos"} 3
app_latency_seconds_sum{route="/todos"} 3.8125
# HELP app_legacy A counter without the suffix.
# TYPE app_legacy unknown
app_legacy 1
# HELP app_requests Requests \"served\"\nby path \\ kind.
# TYPE app_requests counter
app_requests_total{kind="a\"b\\c\nd"} 2
# HELP app_temperature_celsius Temperature.
# TYPE app_temperature_celsius gauge
app_temperature_celsius -Inf
# EOF
"#;
        assert_eq!(mask_timestamps(&text), expected);
        // The exemplar timestamp is seconds with milliseconds, of now.
        let line = text.lines().find(|l| l.contains("0.25 ")).unwrap();
        let ts: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - ts).abs() < 60.0, "{ts} vs {now}");
    }

    #[test]
    fn a_counter_whose_base_name_is_taken_stays_unknown() {
        let registry = Registry::new();
        let a = IntCounter::new("jobs_total", "Jobs.").unwrap();
        let b = Gauge::new("jobs", "Jobs now.").unwrap();
        registry.register(Box::new(a)).unwrap();
        registry.register(Box::new(b)).unwrap();
        let text = encode_string(&registry, &ExemplarIndex::default());
        assert!(text.contains("# TYPE jobs gauge\n"), "{text}");
        assert!(
            text.contains("# TYPE jobs_total unknown\njobs_total 0\n"),
            "{text}"
        );
    }

    #[test]
    fn same_series_as_the_text_format() {
        // Every sample line of the text format appears unchanged in OpenMetrics (which adds
        // only exemplars, comments and `# EOF`): switching formats keeps every series.
        let registry = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new("h_seconds", "H.").buckets(vec![0.005, 0.25, 2.5, 10.0]),
            &["a", "b"],
        )
        .unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        latency.with_label_values(&["x", "y\\"]).observe(1e-9);
        latency.with_label_values(&["x", "z"]).observe(12345.678);
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut text,
        )
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        let om = encode_string(&registry, &ExemplarIndex::default());
        let om_lines: HashSet<&str> = om.lines().collect();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(om_lines.contains(line), "{line} missing from\n{om}");
        }
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn an_empty_family_is_an_error_as_in_the_text_format() {
        let mut family = MetricFamily::default();
        family.set_name("empty".to_owned());
        let mut out = Vec::new();
        assert!(encode(&[family], &ExemplarIndex::default(), &mut out).is_err());
    }

    proptest::proptest! {
        #[test]
        fn escaped_values_read_back_unchanged(value in "\\PC*|[\\\\\"\n a]*") {
            let escaped = Escaped(&value).to_string();
            proptest::prop_assert!(!escaped.contains('\n'));
            let mut read = String::new();
            let mut chars = escaped.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    proptest::prop_assert_ne!(c, '"');
                    read.push(c);
                    continue;
                }
                match chars.next() {
                    Some('\\') => read.push('\\'),
                    Some('"') => read.push('"'),
                    Some('n') => read.push('\n'),
                    other => proptest::prop_assert!(false, "bad escape {:?}", other),
                }
            }
            proptest::prop_assert_eq!(read, value);
        }
    }
}
