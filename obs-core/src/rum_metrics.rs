//! The browser real-user-monitoring metric families.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The families the Faro RUM receiver records into, registered once per registry (see
/// [`Metrics::rum`](crate::Metrics::rum)).
///
/// For instrumentation crates (obs-axum's RUM receiver records into it): each method names
/// the series of one label set; closed sets are the enums of [`names`](crate::names).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RumMetrics {
    /// `browser_web_vital_lcp_seconds`, labels [`WEB_VITAL_LABELS`].
    lcp: HistogramVec,
    /// `browser_web_vital_fcp_seconds`, labels [`WEB_VITAL_LABELS`].
    fcp: HistogramVec,
    /// `browser_web_vital_inp_seconds`, labels [`WEB_VITAL_LABELS`].
    inp: HistogramVec,
    /// `browser_web_vital_ttfb_seconds`, labels [`WEB_VITAL_LABELS`].
    ttfb: HistogramVec,
    /// `browser_web_vital_cls`, labels [`WEB_VITAL_LABELS`].
    cls: HistogramVec,
    /// `browser_navigation_phase_duration_seconds`, labels [`NAVIGATION_PHASE_LABELS`].
    navigation_phase: HistogramVec,
    /// `browser_resource_duration_seconds`, labels [`BROWSER_RESOURCE_LABELS`].
    resource_duration: HistogramVec,
    /// `browser_resource_transfer_size_bytes`, labels [`BROWSER_RESOURCE_LABELS`].
    resource_transfer_size: HistogramVec,
    /// `browser_exceptions_total`, labels [`BROWSER_EXCEPTION_LABELS`].
    exceptions: IntCounterVec,
    /// `browser_events_total`, labels [`BROWSER_EVENT_LABELS`].
    events: IntCounterVec,
    /// `obs_rum_items_received_total`, labels [`RUM_ITEMS_RECEIVED_LABELS`].
    items_received: IntCounterVec,
    /// `obs_rum_requests_rejected_total`, labels [`RUM_REASON_LABELS`].
    requests_rejected: IntCounterVec,
    /// `obs_rum_items_dropped_total`, labels [`RUM_REASON_LABELS`].
    items_dropped: IntCounterVec,
}

/// The labels of a web-vital histogram. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebVitalLabels<'a> {
    /// `app_name`: an allow-listed application or [`RUM_OTHER`].
    pub app_name: &'a str,
    /// `page_route`: a configured route pattern or [`RUM_OTHER`].
    pub page_route: &'a str,
    /// `rating`: one of [`WEB_VITAL_RATINGS`] or [`RUM_OTHER`].
    pub rating: &'a str,
}

/// The labels of `browser_navigation_phase_duration_seconds`. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NavigationPhaseLabels<'a> {
    /// `app_name`: an allow-listed application or [`RUM_OTHER`].
    pub app_name: &'a str,
    /// `page_route`: a configured route pattern or [`RUM_OTHER`].
    pub page_route: &'a str,
    /// `phase`.
    pub phase: NavigationPhase,
}

/// The labels of `browser_resource_duration_seconds` and
/// `browser_resource_transfer_size_bytes`. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrowserResourceLabels<'a> {
    /// `app_name`: an allow-listed application or [`RUM_OTHER`].
    pub app_name: &'a str,
    /// `initiator_type`.
    pub initiator_type: InitiatorType,
}

/// The labels of `browser_exceptions_total`. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrowserExceptionLabels<'a> {
    /// `app_name`: an allow-listed application or [`RUM_OTHER`].
    pub app_name: &'a str,
    /// `error_type`: one of [`BROWSER_ERROR_TYPES`] or [`RUM_OTHER`].
    pub error_type: &'a str,
}

/// The labels of `browser_events_total`. Pass bounded values only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrowserEventLabels<'a> {
    /// `app_name`: an allow-listed application or [`RUM_OTHER`].
    pub app_name: &'a str,
    /// `event_name`: an allow-listed event or [`RUM_OTHER`].
    pub event_name: &'a str,
}

impl RumMetrics {
    pub(crate) fn register(registry: &Registry, buckets: &Buckets) -> Result<Self, Error> {
        let vital = |name: &str, help: &str, buckets: &[f64]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                &WEB_VITAL_LABELS,
            )
        };
        let lcp = vital(
            BROWSER_WEB_VITAL_LCP,
            "Largest Contentful Paint reported by browsers.",
            &buckets.lcp,
        )?;
        let fcp = vital(
            BROWSER_WEB_VITAL_FCP,
            "First Contentful Paint reported by browsers.",
            &buckets.fcp,
        )?;
        let inp = vital(
            BROWSER_WEB_VITAL_INP,
            "Interaction to Next Paint reported by browsers.",
            &buckets.inp,
        )?;
        let ttfb = vital(
            BROWSER_WEB_VITAL_TTFB,
            "Time To First Byte reported by browsers.",
            &buckets.ttfb,
        )?;
        let cls = vital(
            BROWSER_WEB_VITAL_CLS,
            "Cumulative Layout Shift reported by browsers.",
            &buckets.cls,
        )?;
        let histogram = |name: &str, help: &str, buckets: &[f64], labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
        };
        let navigation_phase = histogram(
            BROWSER_NAVIGATION_PHASE_DURATION,
            "Phases of page loads reported by browsers.",
            BROWSER_TIMING_BUCKETS,
            &NAVIGATION_PHASE_LABELS,
        )?;
        let resource_duration = histogram(
            BROWSER_RESOURCE_DURATION,
            "Resource fetch durations reported by browsers.",
            BROWSER_TIMING_BUCKETS,
            &BROWSER_RESOURCE_LABELS,
        )?;
        let resource_transfer_size = histogram(
            BROWSER_RESOURCE_TRANSFER_SIZE,
            "Bytes resources took over the network, reported by browsers.",
            BROWSER_TRANSFER_SIZE_BUCKETS,
            &BROWSER_RESOURCE_LABELS,
        )?;
        let exceptions = IntCounterVec::new(
            Opts::new(BROWSER_EXCEPTIONS, "Exceptions reported by browsers."),
            &BROWSER_EXCEPTION_LABELS,
        )?;
        let events = IntCounterVec::new(
            Opts::new(BROWSER_EVENTS, "Custom events reported by browsers."),
            &BROWSER_EVENT_LABELS,
        )?;
        let items_received = IntCounterVec::new(
            Opts::new(
                OBS_RUM_ITEMS_RECEIVED,
                "Items the RUM receiver accepted, by kind.",
            ),
            &RUM_ITEMS_RECEIVED_LABELS,
        )?;
        let requests_rejected = IntCounterVec::new(
            Opts::new(
                OBS_RUM_REQUESTS_REJECTED,
                "Requests the RUM receiver rejected, by reason.",
            ),
            &RUM_REASON_LABELS,
        )?;
        let items_dropped = IntCounterVec::new(
            Opts::new(
                OBS_RUM_ITEMS_DROPPED,
                "Items the RUM receiver accepted but did not record, by reason.",
            ),
            &RUM_REASON_LABELS,
        )?;
        for collector in [
            &lcp,
            &fcp,
            &inp,
            &ttfb,
            &cls,
            &navigation_phase,
            &resource_duration,
            &resource_transfer_size,
        ] {
            registry.register(Box::new(collector.clone()))?;
        }
        for collector in [
            &exceptions,
            &events,
            &items_received,
            &requests_rejected,
            &items_dropped,
        ] {
            registry.register(Box::new(collector.clone()))?;
        }
        Ok(RumMetrics {
            lcp,
            fcp,
            inp,
            ttfb,
            cls,
            navigation_phase,
            resource_duration,
            resource_transfer_size,
            exceptions,
            events,
            items_received,
            requests_rejected,
            items_dropped,
        })
    }

    /// The histogram of `vital` for one label set.
    pub fn web_vital(&self, vital: WebVital, labels: WebVitalLabels<'_>) -> Histogram {
        let family = match vital {
            WebVital::Lcp => &self.lcp,
            WebVital::Fcp => &self.fcp,
            WebVital::Inp => &self.inp,
            WebVital::Ttfb => &self.ttfb,
            WebVital::Cls => &self.cls,
        };
        family.with_label_values(&[labels.app_name, labels.page_route, labels.rating])
    }

    /// The `browser_navigation_phase_duration_seconds` histogram of one label set, in seconds.
    pub fn navigation_phase(&self, labels: NavigationPhaseLabels<'_>) -> Histogram {
        self.navigation_phase.with_label_values(&[
            labels.app_name,
            labels.page_route,
            labels.phase.as_str(),
        ])
    }

    /// The `browser_resource_duration_seconds` histogram of one label set, in seconds.
    pub fn resource_duration(&self, labels: BrowserResourceLabels<'_>) -> Histogram {
        self.resource_duration
            .with_label_values(&[labels.app_name, labels.initiator_type.as_str()])
    }

    /// The `browser_resource_transfer_size_bytes` histogram of one label set, in bytes.
    pub fn resource_transfer_size(&self, labels: BrowserResourceLabels<'_>) -> Histogram {
        self.resource_transfer_size
            .with_label_values(&[labels.app_name, labels.initiator_type.as_str()])
    }

    /// The `browser_exceptions_total` series of one label set.
    pub fn exceptions(&self, labels: BrowserExceptionLabels<'_>) -> IntCounter {
        self.exceptions
            .with_label_values(&[labels.app_name, labels.error_type])
    }

    /// The `browser_events_total` series of one label set.
    pub fn events(&self, labels: BrowserEventLabels<'_>) -> IntCounter {
        self.events
            .with_label_values(&[labels.app_name, labels.event_name])
    }

    /// The `obs_rum_items_received_total` series of `kind`.
    pub fn items_received(&self, kind: RumItemKind) -> IntCounter {
        self.items_received.with_label_values(&[kind.as_str()])
    }

    /// The `obs_rum_requests_rejected_total` series of `reason`.
    pub fn requests_rejected(&self, reason: RumRejectReason) -> IntCounter {
        self.requests_rejected.with_label_values(&[reason.as_str()])
    }

    /// The `obs_rum_items_dropped_total` series of `reason`.
    pub fn items_dropped(&self, reason: RumDropReason) -> IntCounter {
        self.items_dropped.with_label_values(&[reason.as_str()])
    }
}
