//! Which exposition format a scrape gets: OpenMetrics (with exemplars) when its `Accept`
//! prefers it, else the Prometheus text format, the default.

use http::HeaderValue;
use http::header::GetAll;
use obs_core::names::OPENMETRICS_MEDIA_TYPE;

/// The exposition formats `/metrics` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The Prometheus text format 0.0.4: no `Accept`, `text/plain`, `*/*`, anything else.
    Text,
    /// OpenMetrics 1.0.0, with exemplars.
    OpenMetrics,
}

/// The OpenMetrics versions whose scrapers read what we write (1.0.0); Prometheus also lists
/// 0.0.1, which its parser reads the same way.
const OPENMETRICS_VERSIONS: [&str; 2] = ["1.0.0", "0.0.1"];

/// OpenMetrics when `Accept` gives it a higher quality than the text format; the text format
/// on a tie, so a scraper that accepts both without preference keeps today's format.
///
/// Prometheus sends `application/openmetrics-text;version=1.0.0,…;q=0.75,text/plain;
/// version=0.0.4;q=0.5,*/*;q=0.1` unless its `scrape_protocols` say otherwise.
pub(crate) fn format(accept: GetAll<'_, HeaderValue>) -> Format {
    let mut openmetrics = 0.0_f32;
    // The quality of the text format comes from the most specific range that matches it:
    // `text/plain`, else `text/*`, else `*/*`.
    let mut text: [Option<f32>; 3] = [None; 3];
    let ranges = accept
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for range in ranges {
        let mut params = range.split(';');
        let media = params.next().unwrap_or_default().trim();
        let mut quality = 1.0_f32;
        let mut version = None;
        for param in params {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                k if k.eq_ignore_ascii_case("q") => {
                    // RFC 9110 qvalues lie in 0..=1; anything else (NaN, inf, 7) counts as 0.
                    quality = value
                        .parse::<f32>()
                        .ok()
                        .filter(|q| (0.0..=1.0).contains(q))
                        .unwrap_or(0.0);
                }
                k if k.eq_ignore_ascii_case("version") => version = Some(value),
                _ => {}
            }
        }
        if media.eq_ignore_ascii_case(OPENMETRICS_MEDIA_TYPE) {
            if version.is_none_or(|v| OPENMETRICS_VERSIONS.contains(&v)) {
                openmetrics = openmetrics.max(quality);
            }
        } else {
            let specificity = if media.eq_ignore_ascii_case("text/plain") {
                0
            } else if media.eq_ignore_ascii_case("text/*") {
                1
            } else if media == "*/*" {
                2
            } else {
                continue;
            };
            let slot = &mut text[specificity];
            *slot = Some(slot.map_or(quality, |q| q.max(quality)));
        }
    }
    let text = text.into_iter().flatten().next().unwrap_or(0.0);
    if openmetrics > 0.0 && openmetrics > text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use http::header::ACCEPT;

    fn of(values: &[&str]) -> Format {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        format(headers.get_all(ACCEPT))
    }

    #[test]
    fn prometheus_scrapers_get_openmetrics() {
        // Prometheus 2.x, and 3.x with its default scrape protocols.
        assert_eq!(
            of(&[
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ]),
            Format::OpenMetrics
        );
        assert_eq!(
            of(&[
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
            ]),
            Format::OpenMetrics
        );
        assert_eq!(of(&["Application/OpenMetrics-Text"]), Format::OpenMetrics);
        assert_eq!(
            of(&[
                "text/plain;q=0.5",
                "application/openmetrics-text; version=\"0.0.1\""
            ]),
            Format::OpenMetrics
        );
    }

    #[test]
    fn everything_else_gets_the_text_format() {
        assert_eq!(of(&[]), Format::Text);
        assert_eq!(of(&["*/*"]), Format::Text);
        assert_eq!(of(&["text/plain; version=0.0.4"]), Format::Text);
        // Prometheus with `scrape_protocols: [PrometheusText0.0.4]`.
        assert_eq!(
            of(&["text/plain;version=0.0.4;q=1,*/*;q=0.1"]),
            Format::Text
        );
        assert_eq!(of(&["application/openmetrics-text;q=0"]), Format::Text);
        assert_eq!(
            of(&["application/openmetrics-text;version=2.0.0"]),
            Format::Text
        );
        assert_eq!(
            of(&["text/plain, application/openmetrics-text;q=0.9"]),
            Format::Text
        );
        // The most specific range decides the text format's quality.
        assert_eq!(
            of(&["text/plain;q=0.2, application/openmetrics-text;q=0.5, */*;q=0.9"]),
            Format::OpenMetrics
        );
        // A tie keeps the default.
        assert_eq!(of(&["application/openmetrics-text, */*"]), Format::Text);
        assert_eq!(of(&["application/json"]), Format::Text);
    }

    #[test]
    fn hostile_accept_headers_fall_back_to_text() {
        // What a client controls is linear work over bytes hyper already bounds: many ranges,
        // garbage parameters, non-numeric and out-of-range qualities, non-ASCII bytes.
        let many = "application/openmetrics-text;q=0,".repeat(4_000) + "text/plain";
        assert_eq!(of(&[&many]), Format::Text);
        let garbage = ";;;=;q=;version=;=,".repeat(4_000);
        assert_eq!(of(&[&garbage]), Format::Text);
        for q in ["NaN", "inf", "-1", "1e309", "0x1", "", "1.5"] {
            let accept = format!("application/openmetrics-text;q={q}, text/plain;q=0.5");
            assert_eq!(of(&[&accept]), Format::Text, "q={q}");
        }
        // A quality outside 0..=1 counts as 0, so it cannot outrank the text format.
        assert_eq!(
            of(&["application/openmetrics-text;q=7, text/plain;q=1"]),
            Format::Text
        );
        // An unknown OpenMetrics version is not ours to answer.
        assert_eq!(
            of(&["application/openmetrics-text;version=9.9.9, text/plain;q=0.1"]),
            Format::Text
        );
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT, HeaderValue::from_bytes(b"\xff\xfe;q=1").unwrap());
        headers.append(
            ACCEPT,
            HeaderValue::from_static("application/openmetrics-text"),
        );
        assert_eq!(format(headers.get_all(ACCEPT)), Format::OpenMetrics);
    }
}
