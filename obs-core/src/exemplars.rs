//! Exemplars: per bucket of a histogram series, the trace and span of a recent sampled
//! observation, so a latency spike on a dashboard leads to a trace that caused it.
//!
//! The `prometheus` crate keeps no exemplars, so they live beside its histograms: an
//! [`ExemplarHistogram`] observes into the `prometheus` series and, when the observation
//! belongs to a sampled span, writes that span's ids into the slot of the bucket the value
//! falls in. The OpenMetrics encoder (`openmetrics.rs`) joins the slots to the gathered
//! families by label values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceId};
use prometheus::Histogram;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The ids of a sampled span: what an exemplar links to.
///
/// Only sampled spans make exemplars: an unsampled span is never exported, so a link to it
/// would lead nowhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledSpan {
    trace_id: TraceId,
    span_id: SpanId,
}

impl SampledSpan {
    /// The ids of `cx` when it is valid and sampled.
    pub fn from_span_context(cx: &SpanContext) -> Option<Self> {
        (cx.is_valid() && cx.is_sampled()).then(|| SampledSpan {
            trace_id: cx.trace_id(),
            span_id: cx.span_id(),
        })
    }

    /// The OpenTelemetry span behind the `tracing` span `span`, when it is sampled.
    ///
    /// A disabled span answers at once; otherwise this looks the span up in the subscriber
    /// (the `tracing-opentelemetry` context), which costs about as much as
    /// [`OpenTelemetrySpanExt::context`]. Code that already holds the span's
    /// [`SpanContext`] passes it to [`from_span_context`](Self::from_span_context) instead.
    pub fn of(span: &tracing::Span) -> Option<Self> {
        if span.is_disabled() {
            return None;
        }
        let cx = span.context();
        Self::from_span_context(cx.span().span_context())
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
}

/// One exemplar: the observed value, the span it belongs to, and when it was observed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) value: f64,
    pub(crate) span: SampledSpan,
    /// Since the Unix epoch.
    pub(crate) timestamp: Duration,
}

/// An exemplar as a slot keeps it: the instant of the observation rather than its wall time,
/// so that recording reads no clock when the caller has read one to measure the duration.
#[derive(Clone, Copy, Debug)]
struct Recorded {
    value: f64,
    span: SampledSpan,
    at: Instant,
}

/// The wall clock and the monotonic clock read together, once per exposition: an exemplar's
/// wall time is the wall clock now less the exemplar's age.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WallClock {
    since_epoch: Duration,
    now: Instant,
}

impl WallClock {
    pub(crate) fn now() -> Self {
        WallClock {
            since_epoch: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
            now: Instant::now(),
        }
    }

    /// `at` as time since the Unix epoch; an instant after the clock was read counts as now.
    fn since_epoch(&self, at: Instant) -> Duration {
        self.since_epoch
            .saturating_sub(self.now.saturating_duration_since(at))
    }
}

/// The exemplar slots of one histogram series: one per bucket, the last for `+Inf`.
#[derive(Debug)]
pub(crate) struct SeriesExemplars {
    /// The finite upper bounds of the buckets, increasing.
    bounds: Arc<[f64]>,
    slots: Box<[Mutex<Option<Recorded>>]>,
}

impl SeriesExemplars {
    fn new(bounds: Arc<[f64]>) -> Self {
        let slots = (0..=bounds.len()).map(|_| Mutex::new(None)).collect();
        SeriesExemplars { bounds, slots }
    }

    /// Keeps `value` as the exemplar of its bucket (the first whose upper bound is `>=`
    /// it). Never waits: when a scrape or another request holds the slot, this observation
    /// is simply not kept.
    fn record(&self, value: f64, span: SampledSpan, at: Instant) {
        if value.is_nan() {
            return;
        }
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        let Some(slot) = self.slots.get(bucket) else {
            return;
        };
        let mut guard = match slot.try_lock() {
            Ok(guard) => guard,
            // A slot holds plain data: a panic elsewhere cannot leave it inconsistent.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        *guard = Some(Recorded { value, span, at });
    }

    /// The exemplar of the bucket with upper bound `upper_bound` (`+Inf` for the last).
    pub(crate) fn bucket(&self, upper_bound: f64, clock: &WallClock) -> Option<Exemplar> {
        let index = if upper_bound == f64::INFINITY {
            self.bounds.len()
        } else {
            self.bounds.iter().position(|bound| *bound == upper_bound)?
        };
        let slot = self.slots.get(index)?;
        let recorded = (*slot.lock().unwrap_or_else(PoisonError::into_inner))?;
        Some(Exemplar {
            value: recorded.value,
            span: recorded.span,
            timestamp: clock.since_epoch(recorded.at),
        })
    }
}

/// A histogram series of the `prometheus` crate with exemplar slots beside it.
///
/// [`observe`](Self::observe) records like [`Histogram::observe`];
/// [`observe_with_exemplar`](Self::observe_with_exemplar) also keeps the span of a sampled
/// observation as its bucket's exemplar, shown in the OpenMetrics exposition
/// ([`Metrics::encode_openmetrics`](crate::Metrics::encode_openmetrics)). The Prometheus
/// text format has no exemplars and is unchanged.
///
/// ```
/// use obs_core::{DbOperationLabels, SampledSpan};
/// use obs_core::opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
///
/// let metrics = obs_core::Metrics::new();
/// let histogram = metrics.db_client()?.operation_duration(DbOperationLabels {
///     system: "postgresql",
///     operation: "SELECT",
///     collection: "todos",
///     error_type: "",
/// });
/// let cx = SpanContext::new(
///     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
///     SpanId::from_hex("00f067aa0ba902b7").unwrap(),
///     TraceFlags::SAMPLED,
///     false,
///     TraceState::default(),
/// );
/// histogram.observe_with_exemplar(0.042, SampledSpan::from_span_context(&cx));
/// let text = metrics.encode_openmetrics()?;
/// assert!(text.contains(
///     r#"le="0.05"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.042 "#
/// ));
/// # Ok::<(), obs_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ExemplarHistogram {
    histogram: Histogram,
    exemplars: Arc<SeriesExemplars>,
}

impl ExemplarHistogram {
    /// Records `value` without an exemplar.
    pub fn observe(&self, value: f64) {
        self.histogram.observe(value);
    }

    /// Records `value`; when `span` is `Some` (a sampled span, see [`SampledSpan`]), it
    /// becomes the exemplar of the bucket `value` falls in. With `None` this costs what
    /// [`observe`](Self::observe) costs.
    #[inline]
    pub fn observe_with_exemplar(&self, value: f64, span: Option<SampledSpan>) {
        self.histogram.observe(value);
        if let Some(span) = span {
            self.exemplars.record(value, span, Instant::now());
        }
    }

    /// As [`observe_with_exemplar`](Self::observe_with_exemplar), with the instant the
    /// observation was made, which the caller has read anyway to measure the duration
    /// `value`: the exemplar then costs no clock read of its own. Its timestamp in the
    /// exposition is that instant on the wall clock.
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// # let metrics = obs_core::Metrics::new();
    /// # let histogram = metrics.db_client()?.operation_duration(obs_core::DbOperationLabels {
    /// #     system: "postgresql", operation: "SELECT", collection: "todos", error_type: "",
    /// # });
    /// let started = Instant::now();
    /// // ... the operation ...
    /// let now = Instant::now();
    /// let span = obs_core::SampledSpan::of(&tracing::Span::current());
    /// histogram.observe_with_exemplar_at((now - started).as_secs_f64(), span, now);
    /// # Ok::<(), obs_core::Error>(())
    /// ```
    #[inline]
    pub fn observe_with_exemplar_at(&self, value: f64, span: Option<SampledSpan>, at: Instant) {
        self.histogram.observe(value);
        if let Some(span) = span {
            self.exemplars.record(value, span, at);
        }
    }

    /// Records `value` with the span behind the `tracing` span `span` as exemplar, when it is
    /// sampled (see [`SampledSpan::of`] for what the lookup costs).
    pub fn observe_in_span(&self, value: f64, span: &tracing::Span) {
        self.observe_with_exemplar(value, SampledSpan::of(span));
    }

    /// The `prometheus` series.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// The number of observations, as [`Histogram::get_sample_count`].
    pub fn get_sample_count(&self) -> u64 {
        self.histogram.get_sample_count()
    }

    /// The sum of the observations, as [`Histogram::get_sample_sum`].
    pub fn get_sample_sum(&self) -> f64 {
        self.histogram.get_sample_sum()
    }
}

/// A series' label values, in the order of its family's label names.
pub(crate) type LabelValues = Box<[Box<str>]>;

/// The exemplar slots of every series of one histogram family, by label values.
#[derive(Clone, Debug)]
pub(crate) struct ExemplarFamily {
    inner: Arc<FamilyInner>,
}

#[derive(Debug)]
struct FamilyInner {
    name: String,
    /// The family's variable label names, in the order series are looked up with (the
    /// HTTP families end with the application's custom labels, hence owned).
    label_names: Box<[Box<str>]>,
    bounds: Arc<[f64]>,
    series: RwLock<HashMap<LabelValues, Arc<SeriesExemplars>>>,
}

impl ExemplarFamily {
    /// The slots of the family `name`, whose series are looked up by values of `label_names`
    /// in that order, with the bucket upper bounds `bounds`.
    pub(crate) fn new<N: AsRef<str>>(name: &str, label_names: &[N], bounds: &[f64]) -> Self {
        let finite: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        ExemplarFamily {
            inner: Arc::new(FamilyInner {
                name: name.to_owned(),
                label_names: label_names.iter().map(|n| Box::from(n.as_ref())).collect(),
                bounds: finite.into(),
                series: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// `histogram`, the series of `values`, with its slots, created on first sight.
    pub(crate) fn series(&self, histogram: Histogram, values: &[&str]) -> ExemplarHistogram {
        let key: LabelValues = values.iter().map(|v| Box::from(*v)).collect();
        let existing = self
            .inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let exemplars = match existing {
            Some(exemplars) => exemplars,
            None => Arc::clone(
                self.inner
                    .series
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(key)
                    .or_insert_with(|| {
                        Arc::new(SeriesExemplars::new(Arc::clone(&self.inner.bounds)))
                    }),
            ),
        };
        ExemplarHistogram {
            histogram,
            exemplars,
        }
    }

    /// The name of the family.
    pub(crate) fn name(&self) -> &str {
        &self.inner.name
    }

    /// The family's variable label names, in the order of the keys of [`snapshot`](Self::snapshot).
    pub(crate) fn label_names(&self) -> &[Box<str>] {
        &self.inner.label_names
    }

    /// Every series' slots with its label values, for one encoding.
    pub(crate) fn snapshot(&self) -> Vec<(LabelValues, Arc<SeriesExemplars>)> {
        self.inner
            .series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(values, slots)| (values.clone(), Arc::clone(slots)))
            .collect()
    }
}

/// The exemplar families of one registry, for the OpenMetrics encoder to find by name.
#[derive(Debug, Default)]
pub(crate) struct ExemplarIndex {
    families: RwLock<Vec<ExemplarFamily>>,
}

impl ExemplarIndex {
    /// Adds `family`, once it is registered.
    pub(crate) fn add(&self, family: ExemplarFamily) {
        self.families
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(family);
    }

    /// Every family, for one encoding.
    pub(crate) fn families(&self) -> Vec<ExemplarFamily> {
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceFlags, TraceState};
    use prometheus::HistogramOpts;

    fn span_context(flags: TraceFlags) -> SpanContext {
        SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            flags,
            false,
            TraceState::default(),
        )
    }

    fn histogram() -> (ExemplarFamily, ExemplarHistogram) {
        let family = ExemplarFamily::new("h_seconds", &["a"], &[0.1, 1.0]);
        let h = Histogram::with_opts(HistogramOpts::new("h_seconds", "h").buckets(vec![0.1, 1.0]))
            .unwrap();
        let series = family.series(h, &["x"]);
        (family, series)
    }

    #[test]
    fn only_sampled_valid_contexts_make_exemplars() {
        assert!(SampledSpan::from_span_context(&span_context(TraceFlags::SAMPLED)).is_some());
        assert!(SampledSpan::from_span_context(&span_context(TraceFlags::NOT_SAMPLED)).is_none());
        assert!(SampledSpan::from_span_context(&SpanContext::empty_context()).is_none());
        assert!(SampledSpan::of(&tracing::Span::none()).is_none());
    }

    #[test]
    fn each_value_lands_in_the_slot_of_its_bucket() {
        let (family, series) = histogram();
        let span = SampledSpan::from_span_context(&span_context(TraceFlags::SAMPLED));
        series.observe_with_exemplar(0.1, span);
        series.observe_with_exemplar(0.5, span);
        series.observe_with_exemplar(7.0, span);
        series.observe_with_exemplar(f64::NAN, span);
        series.observe(0.7);
        assert_eq!(series.histogram().get_sample_count(), 5);
        let slots = &family.snapshot()[0].1;
        let clock = WallClock::now();
        assert_eq!(slots.bucket(0.1, &clock).map(|e| e.value), Some(0.1));
        assert_eq!(slots.bucket(1.0, &clock).map(|e| e.value), Some(0.5));
        assert_eq!(
            slots.bucket(f64::INFINITY, &clock).map(|e| e.value),
            Some(7.0)
        );
        assert_eq!(slots.bucket(0.3, &clock), None);
        let e = slots.bucket(1.0, &clock).unwrap();
        assert_eq!(Some(e.span), span);
        assert!(e.timestamp > Duration::from_secs(1_600_000_000));
    }

    #[test]
    fn an_exemplar_is_stamped_with_the_wall_time_of_its_instant() {
        let (family, series) = histogram();
        let span = SampledSpan::from_span_context(&span_context(TraceFlags::SAMPLED));
        let ten_seconds_ago = Instant::now() - Duration::from_secs(10);
        series.observe_with_exemplar_at(0.5, span, ten_seconds_ago);
        series.observe_with_exemplar(7.0, span);
        let clock = WallClock::now();
        let slots = &family.snapshot()[0].1;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let age = |upper_bound| now - slots.bucket(upper_bound, &clock).unwrap().timestamp;
        // Ten seconds old, give or take the time between the clock reads.
        let old = age(1.0);
        assert!(
            old >= Duration::from_secs(10) && old < Duration::from_secs(11),
            "{old:?}"
        );
        assert!(age(f64::INFINITY) < Duration::from_secs(1));
        // An instant after the clock was read counts as the clock's own time.
        series.observe_with_exemplar_at(0.5, span, Instant::now() + Duration::from_secs(5));
        assert_eq!(
            slots.bucket(1.0, &clock).unwrap().timestamp,
            clock.since_epoch(clock.now)
        );
    }

    #[test]
    fn unsampled_observations_leave_the_slots_empty() {
        let (family, series) = histogram();
        series.observe_with_exemplar(
            0.5,
            SampledSpan::from_span_context(&span_context(TraceFlags::NOT_SAMPLED)),
        );
        assert_eq!(series.histogram().get_sample_count(), 1);
        assert_eq!(family.snapshot()[0].1.bucket(1.0, &WallClock::now()), None);
    }

    #[test]
    fn a_series_looked_up_twice_shares_its_slots() {
        let (family, a) = histogram();
        let b = family.series(a.histogram().clone(), &["x"]);
        assert!(Arc::ptr_eq(&a.exemplars, &b.exemplars));
        let c = family.series(a.histogram().clone(), &["y"]);
        assert!(!Arc::ptr_eq(&a.exemplars, &c.exemplars));
        assert_eq!(family.snapshot().len(), 2);
    }
}
