//! Helpers shared by the obs-axum integration tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The value of the sample `name{labels...}` in a text exposition, if present.
/// `labels` must list every label of the series.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        if metric != name {
            return None;
        }
        let rest = rest.strip_suffix('}')?;
        let found: Vec<(String, String)> = split_labels(rest);
        if found.len() != labels.len() {
            return None;
        }
        let all = labels
            .iter()
            .all(|(k, v)| found.iter().any(|(fk, fv)| fk == k && fv == v));
        all.then(|| value.parse().unwrap())
    })
}

/// Every label set of `name` in a text exposition.
pub fn series(text: &str, name: &str) -> Vec<Vec<(String, String)>> {
    text.lines()
        .filter_map(|line| {
            let (series, _) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{')?;
            (metric == name).then(|| split_labels(rest.strip_suffix('}').unwrap()))
        })
        .collect()
}

fn split_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        // Values are escaped; find the closing quote that is not preceded by a backslash.
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' {
                i += 2;
                continue;
            }
            if bytes[i] == b'"' {
                break;
            }
            i += 1;
        }
        out.push((
            key.trim_start_matches(',').to_owned(),
            after[..i].to_owned(),
        ));
        rest = after.get(i + 1..).unwrap_or("");
    }
    out
}

/// Sends one request through `app` and collects the whole response body.
pub async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    body: Body,
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(body)
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, bytes)
}

/// Everything a `tracing` subscriber writes, for tests that read their log lines back.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// A `MakeWriter` appending to this capture.
    pub fn writer(&self) -> impl Fn() -> LogCaptureWriter + Send + Sync + 'static {
        let buf = self.0.clone();
        move || LogCaptureWriter(buf.clone())
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The lines written so far, parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The writer of a [`LogCapture`].
pub struct LogCaptureWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends `request` through `app` with `dispatch` as the subscriber, collects the whole
/// response body under it too (the request's record ends there), and returns the headers.
pub async fn send_traced(
    app: &Router,
    dispatch: &tracing::Dispatch,
    request: Request<Body>,
) -> http::HeaderMap {
    use tracing::instrument::WithSubscriber;
    let response = app
        .clone()
        .oneshot(request)
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    let headers = response.headers().clone();
    response
        .into_body()
        .collect()
        .with_subscriber(dispatch.clone())
        .await
        .unwrap();
    headers
}

/// A small deterministic PRNG (xorshift64*), so generated input is the same on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `true` with about `percent` percent probability.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A lowercase word of 1 to 16 letters.
    pub fn word(&mut self) -> String {
        let len = 1 + self.below(16);
        (0..len)
            .map(|_| char::from(b'a' + self.below(26) as u8))
            .collect()
    }
}
