//! The browser real-user-monitoring metric families.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::Error;
use crate::buckets::Buckets;
use crate::names::*;

/// The families the Faro RUM receiver records into, registered once per registry (see
/// [`Metrics::rum`](crate::Metrics::rum)).
///
/// Label order follows [`WEB_VITAL_LABELS`], [`BROWSER_EXCEPTION_LABELS`],
/// [`BROWSER_EVENT_LABELS`], [`RUM_ITEMS_RECEIVED_LABELS`] and [`RUM_REASON_LABELS`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RumMetrics {
    /// `browser_web_vital_lcp_seconds`.
    pub lcp: HistogramVec,
    /// `browser_web_vital_fcp_seconds`.
    pub fcp: HistogramVec,
    /// `browser_web_vital_inp_seconds`.
    pub inp: HistogramVec,
    /// `browser_web_vital_ttfb_seconds`.
    pub ttfb: HistogramVec,
    /// `browser_web_vital_cls`.
    pub cls: HistogramVec,
    /// `browser_exceptions_total`.
    pub exceptions: IntCounterVec,
    /// `browser_events_total`.
    pub events: IntCounterVec,
    /// `obs_rum_items_received_total`.
    pub items_received: IntCounterVec,
    /// `obs_rum_requests_rejected_total`.
    pub requests_rejected: IntCounterVec,
    /// `obs_rum_items_dropped_total`.
    pub items_dropped: IntCounterVec,
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
        for collector in [&lcp, &fcp, &inp, &ttfb, &cls] {
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
            exceptions,
            events,
            items_received,
            requests_rejected,
            items_dropped,
        })
    }
}
