//! [`Buckets`]: the histogram boundaries of every obs family, today's OpenTelemetry-based
//! values by default.

use crate::Error;
use crate::names::{
    BODY_SIZE_BUCKETS, DB_DURATION_BUCKETS, DB_WAIT_TIME_BUCKETS, HTTP_DURATION_BUCKETS,
    WEB_VITAL_CLS_BUCKETS, WEB_VITAL_FCP_BUCKETS, WEB_VITAL_INP_BUCKETS, WEB_VITAL_LCP_BUCKETS,
    WEB_VITAL_TTFB_BUCKETS,
};

/// Histogram boundaries per family, set once before the families are registered (see
/// [`Metrics::with_buckets`](crate::Metrics::with_buckets)).
///
/// What the bundled monitoring relies on: the latency SLO rules read the
/// `le="0.5"` bucket of `http_server_request_duration_seconds`, and the Web Vitals dashboard
/// reads the "good" thresholds of each vital (LCP 2.5 s, FCP 1.8 s, INP 0.2 s, TTFB 0.8 s,
/// CLS 0.1). Keep those boundaries when you change a family, or change the rules with them.
///
/// ```
/// use obs_core::{Buckets, Metrics};
///
/// let buckets = Buckets::default()
///     .http_duration([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])?
///     .db_duration([0.0005, 0.001, 0.005, 0.01, 0.1, 1.0])?;
/// let metrics = Metrics::with_buckets(obs_core::prometheus::Registry::new(), buckets);
/// let http = metrics.http_server()?;
/// http.request_duration(obs_core::HttpServerLabels {
///     method: "GET",
///     route: "/todos",
///     status: "200",
///     error_type: "",
/// })
/// .observe(0.3);
/// assert!(metrics.encode()?.contains(r#"le="0.25"} 0"#));
/// # Ok::<(), obs_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct Buckets {
    pub(crate) http_duration: Vec<f64>,
    pub(crate) http_body_size: Vec<f64>,
    pub(crate) db_duration: Vec<f64>,
    pub(crate) db_wait_time: Vec<f64>,
    pub(crate) lcp: Vec<f64>,
    pub(crate) fcp: Vec<f64>,
    pub(crate) inp: Vec<f64>,
    pub(crate) ttfb: Vec<f64>,
    pub(crate) cls: Vec<f64>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            http_duration: HTTP_DURATION_BUCKETS.to_vec(),
            http_body_size: BODY_SIZE_BUCKETS.to_vec(),
            db_duration: DB_DURATION_BUCKETS.to_vec(),
            db_wait_time: DB_WAIT_TIME_BUCKETS.to_vec(),
            lcp: WEB_VITAL_LCP_BUCKETS.to_vec(),
            fcp: WEB_VITAL_FCP_BUCKETS.to_vec(),
            inp: WEB_VITAL_INP_BUCKETS.to_vec(),
            ttfb: WEB_VITAL_TTFB_BUCKETS.to_vec(),
            cls: WEB_VITAL_CLS_BUCKETS.to_vec(),
        }
    }
}

/// The boundaries, checked: at least one, finite, strictly increasing.
fn checked(
    setting: &'static str,
    bounds: impl IntoIterator<Item = f64>,
) -> Result<Vec<f64>, Error> {
    let bounds: Vec<f64> = bounds.into_iter().collect();
    let render = || format!("{bounds:?}");
    if bounds.is_empty() {
        return Err(Error::invalid(
            setting,
            render(),
            "give at least one boundary",
        ));
    }
    if bounds.iter().any(|b| !b.is_finite()) {
        return Err(Error::invalid(
            setting,
            render(),
            "boundaries must be finite (+Inf is always added)",
        ));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::invalid(
            setting,
            render(),
            "boundaries must be strictly increasing",
        ));
    }
    Ok(bounds)
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident, $field:ident, $default:ident) => {
        $(#[$doc])*
        #[doc = concat!("Defaults to [`", stringify!($default), "`](crate::names::", stringify!($default), ").")]
        ///
        /// # Errors
        /// Boundaries that are empty, not finite or not strictly increasing.
        pub fn $name(mut self, bounds: impl IntoIterator<Item = f64>) -> Result<Self, Error> {
            self.$field = checked(concat!("Buckets::", stringify!($name)), bounds)?;
            Ok(self)
        }
    };
}

impl Buckets {
    setter!(
        /// `http_server_request_duration_seconds` and `http_client_request_duration_seconds`,
        /// in seconds.
        http_duration, http_duration, HTTP_DURATION_BUCKETS
    );
    setter!(
        /// `http_server_request_body_size_bytes` and `http_server_response_body_size_bytes`.
        http_body_size, http_body_size, BODY_SIZE_BUCKETS
    );
    setter!(
        /// `db_client_operation_duration_seconds` (SQL and Redis), in seconds.
        db_duration, db_duration, DB_DURATION_BUCKETS
    );
    setter!(
        /// `db_client_connection_wait_time_seconds`, in seconds.
        db_wait_time, db_wait_time, DB_WAIT_TIME_BUCKETS
    );
    setter!(
        /// `browser_web_vital_lcp_seconds`.
        web_vital_lcp, lcp, WEB_VITAL_LCP_BUCKETS
    );
    setter!(
        /// `browser_web_vital_fcp_seconds`.
        web_vital_fcp, fcp, WEB_VITAL_FCP_BUCKETS
    );
    setter!(
        /// `browser_web_vital_inp_seconds`.
        web_vital_inp, inp, WEB_VITAL_INP_BUCKETS
    );
    setter!(
        /// `browser_web_vital_ttfb_seconds`.
        web_vital_ttfb, ttfb, WEB_VITAL_TTFB_BUCKETS
    );
    setter!(
        /// `browser_web_vital_cls` (unitless).
        web_vital_cls, cls, WEB_VITAL_CLS_BUCKETS
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_boundaries_name_the_setter() {
        for bad in [
            vec![],
            vec![0.1, 0.1],
            vec![1.0, 0.5],
            vec![0.1, f64::INFINITY],
        ] {
            let err = Buckets::default().http_duration(bad.clone()).unwrap_err();
            assert!(
                err.to_string().contains("Buckets::http_duration"),
                "{bad:?}: {err}"
            );
        }
        let b = Buckets::default().web_vital_cls([0.05, 0.1]).unwrap();
        assert_eq!(b.cls, [0.05, 0.1]);
        assert_eq!(b.http_duration, HTTP_DURATION_BUCKETS);
    }
}
