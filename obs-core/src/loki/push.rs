//! The pusher behind the `loki` feature: the `tracing` layer that renders and queues lines,
//! and the task that batches, encodes and posts them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use url::Url;

use super::{LokiCounters, LokiShutdown};
use crate::log_format::{LogIdentity, render_line};
use crate::names::{
    LOKI_CUT_MARKER, LOKI_MAX_BATCH_BYTES, LOKI_MAX_LINE_BYTES, LOKI_QUEUE_BYTES, LOKI_QUEUE_LINES,
};
use crate::runtime::on_exporter_thread;

/// Lines sent in one push at most.
const MAX_BATCH: usize = 1000;
/// How long a line may wait for its batch to fill.
const FLUSH_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts per batch before it is dropped.
const ATTEMPTS: u32 = 3;

struct Line {
    time: SystemTime,
    level: Level,
    text: String,
}

/// Bytes of the lines queued or being pushed, against [`LOKI_QUEUE_BYTES`].
#[derive(Clone, Debug, Default)]
struct ByteBudget(Arc<AtomicUsize>);

impl ByteBudget {
    /// Takes `n` bytes from the budget; false (and nothing taken) when they do not fit.
    fn take(&self, n: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n)
                    .filter(|&total| total <= LOKI_QUEUE_BYTES)
            })
            .is_ok()
    }

    /// Gives back what [`take`](Self::take) took.
    fn give_back(&self, n: usize) {
        // Never more than was taken: every caller returns the size of lines it took for.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }
}

/// Cuts `text` to [`LOKI_MAX_LINE_BYTES`] on a character boundary, ending it with
/// [`LOKI_CUT_MARKER`].
fn cut_line(text: String) -> String {
    match crate::text::cut(&text, LOKI_MAX_LINE_BYTES, LOKI_CUT_MARKER) {
        Cow::Borrowed(_) => text,
        Cow::Owned(cut) => cut,
    }
}

/// The `tracing` layer: renders and enqueues.
pub(crate) struct LokiLayer {
    tx: mpsc::Sender<Line>,
    budget: ByteBudget,
    identity: LogIdentity,
    counters: LokiCounters,
}

impl<S> Layer<S> for LokiLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if on_exporter_thread() {
            return;
        }
        let text = cut_line(render_line(event, ctx.event_span(event), &self.identity));
        let len = text.len();
        if !self.budget.take(len) {
            self.counters.dropped.inc();
            return;
        }
        let line = Line {
            time: SystemTime::now(),
            level: *event.metadata().level(),
            text,
        };
        if self.tx.try_send(line).is_err() {
            self.budget.give_back(len);
            self.counters.dropped.inc();
        }
    }
}

/// Creates the layer and spawns its pusher on `runtime`.
pub(crate) fn start(
    base: &Url,
    identity: LogIdentity,
    counters: LokiCounters,
    runtime: &tokio::runtime::Handle,
) -> Result<(LokiLayer, LokiShutdown), crate::Error> {
    let push_url = push_url(base);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| crate::Error::Exporter(format!("Loki client: {e}")))?;
    let (tx, rx) = mpsc::channel(LOKI_QUEUE_LINES);
    let budget = ByteBudget::default();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let pusher = Pusher {
        client,
        url: push_url,
        labels: StreamLabels::new(&identity),
        counters: counters.clone(),
        budget: budget.clone(),
    };
    runtime.spawn(pusher.run(rx, stop_rx, done_tx));
    Ok((
        LokiLayer {
            tx,
            budget,
            identity,
            counters,
        },
        LokiShutdown::new(stop_tx, done_rx),
    ))
}

/// `LOKI_URL` is the server's base URL; a URL that already names the push path is kept.
fn push_url(base: &Url) -> Url {
    if base.path().ends_with("/loki/api/v1/push") {
        return base.clone();
    }
    let mut url = base.clone();
    let path = format!("{}/loki/api/v1/push", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The label set of each level's stream, rendered once.
struct StreamLabels(BTreeMap<Level, String>);

impl StreamLabels {
    fn new(identity: &LogIdentity) -> Self {
        let levels = [
            Level::TRACE,
            Level::DEBUG,
            Level::INFO,
            Level::WARN,
            Level::ERROR,
        ];
        StreamLabels(
            levels
                .into_iter()
                .map(|level| {
                    let labels = format!(
                        "{{service=\"{}\", instance=\"{}\", level=\"{}\"}}",
                        escape(&identity.service),
                        escape(&identity.instance),
                        level.as_str().to_ascii_lowercase()
                    );
                    (level, labels)
                })
                .collect(),
        )
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

struct Pusher {
    client: reqwest::Client,
    url: Url,
    labels: StreamLabels,
    counters: LokiCounters,
    budget: ByteBudget,
}

impl Pusher {
    async fn run(
        self,
        mut rx: mpsc::Receiver<Line>,
        mut stop: oneshot::Receiver<()>,
        done: std::sync::mpsc::Sender<()>,
    ) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let deadline = tokio::time::sleep(FLUSH_INTERVAL);
            tokio::pin!(deadline);
            let mut bytes = 0;
            // Fill a batch until it is full or the interval is up.
            let stopping = loop {
                tokio::select! {
                    line = rx.recv() => match line {
                        Some(line) => {
                            bytes += line.text.len();
                            batch.push(line);
                            if batch.len() >= MAX_BATCH || bytes >= LOKI_MAX_BATCH_BYTES {
                                break false;
                            }
                        }
                        None => break true,
                    },
                    () = &mut deadline => break false,
                    _ = &mut stop => break true,
                }
            };
            if stopping {
                // Drain what is queued, then push it all and report back.
                rx.close();
                while let Ok(line) = rx.try_recv() {
                    batch.push(line);
                }
                for chunk in Batches(&batch) {
                    self.push(chunk).await;
                }
                let _ = done.send(());
                return;
            }
            for chunk in Batches(&batch) {
                self.push(chunk).await;
            }
            batch.clear();
        }
    }

    /// Pushes `lines`, retrying, then returns their bytes to the budget whatever the outcome.
    async fn push(&self, lines: &[Line]) {
        self.try_push(lines).await;
        self.budget
            .give_back(lines.iter().map(|l| l.text.len()).sum());
    }

    async fn try_push(&self, lines: &[Line]) {
        let body = encode(lines, &self.labels);
        for attempt in 0..ATTEMPTS {
            let sent = self
                .client
                .post(self.url.clone())
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    self.counters.sent.inc_by(lines.len() as u64);
                    return;
                }
                // Loki refused the content itself: retrying sends the same refusal.
                Ok(resp) if resp.status().is_client_error() && resp.status() != 429 => break,
                _ => {}
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
        self.counters.dropped.inc_by(lines.len() as u64);
    }
}

/// Splits lines into pushes of at most [`MAX_BATCH`] lines and [`LOKI_MAX_BATCH_BYTES`] bytes
/// (a push holds at least one line; no line is longer than a push may be).
struct Batches<'a>(&'a [Line]);

impl<'a> Iterator for Batches<'a> {
    type Item = &'a [Line];

    fn next(&mut self) -> Option<&'a [Line]> {
        if self.0.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut n = 0;
        for line in self.0.iter().take(MAX_BATCH) {
            if n > 0 && bytes + line.text.len() > LOKI_MAX_BATCH_BYTES {
                break;
            }
            bytes += line.text.len();
            n += 1;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

/// Encodes `lines` as a snappy-compressed `logproto.PushRequest`, one stream per level.
fn encode(lines: &[Line], labels: &StreamLabels) -> Vec<u8> {
    let mut streams: BTreeMap<Level, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        streams.entry(line.level).or_default().push(line);
    }
    let request = proto::PushRequest {
        streams: streams
            .into_iter()
            .map(|(level, mut lines)| {
                // Loki wants each stream in time order; events from several threads may not be.
                lines.sort_by_key(|l| l.time);
                proto::StreamAdapter {
                    labels: labels.0.get(&level).cloned().unwrap_or_default(),
                    entries: lines
                        .into_iter()
                        .map(|l| proto::EntryAdapter {
                            timestamp: Some(proto::Timestamp::from(l.time)),
                            line: l.text.clone(),
                        })
                        .collect(),
                    hash: 0,
                }
            })
            .collect(),
    };
    let raw = prost::Message::encode_to_vec(&request);
    // Compression of an in-memory buffer only fails for inputs over 4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The subset of Loki's `logproto` push messages obs sends.
mod proto {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// `logproto.PushRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct PushRequest {
        /// The streams, one per label set.
        #[prost(message, repeated, tag = "1")]
        pub(crate) streams: Vec<StreamAdapter>,
    }

    /// `logproto.StreamAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct StreamAdapter {
        /// The label set, in Prometheus selector syntax.
        #[prost(string, tag = "1")]
        pub(crate) labels: String,
        /// The lines, in time order.
        #[prost(message, repeated, tag = "2")]
        pub(crate) entries: Vec<EntryAdapter>,
        /// Unused by the push API.
        #[prost(uint64, tag = "3")]
        pub(crate) hash: u64,
    }

    /// `logproto.EntryAdapter`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct EntryAdapter {
        /// When the line was logged.
        #[prost(message, optional, tag = "1")]
        pub(crate) timestamp: Option<Timestamp>,
        /// The line.
        #[prost(string, tag = "2")]
        pub(crate) line: String,
    }

    /// `google.protobuf.Timestamp`.
    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub(crate) struct Timestamp {
        /// Seconds since the Unix epoch.
        #[prost(int64, tag = "1")]
        pub(crate) seconds: i64,
        /// Nanoseconds within the second.
        #[prost(int32, tag = "2")]
        pub(crate) nanos: i32,
    }

    impl From<SystemTime> for Timestamp {
        fn from(time: SystemTime) -> Self {
            let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
            Timestamp {
                seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_url_appends_the_api_path_once() {
        let base = Url::parse("http://loki:3100").unwrap();
        assert_eq!(
            push_url(&base).as_str(),
            "http://loki:3100/loki/api/v1/push"
        );
        let base = Url::parse("https://logs.example.com/tenant/").unwrap();
        assert_eq!(
            push_url(&base).as_str(),
            "https://logs.example.com/tenant/loki/api/v1/push"
        );
        let full = Url::parse("http://loki:3100/loki/api/v1/push").unwrap();
        assert_eq!(push_url(&full), full);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary_with_the_marker() {
        let short = "x".repeat(LOKI_MAX_LINE_BYTES);
        assert_eq!(cut_line(short.clone()), short);

        let cut = cut_line("x".repeat(LOKI_MAX_LINE_BYTES + 1));
        assert_eq!(cut.len(), LOKI_MAX_LINE_BYTES);
        assert!(cut.ends_with(&format!("x{LOKI_CUT_MARKER}")));

        // A three-byte character straddling the cut is left out whole.
        let keep = LOKI_MAX_LINE_BYTES - LOKI_CUT_MARKER.len();
        let text = format!("{}€{}", "x".repeat(keep - 1), "y".repeat(10));
        let cut = cut_line(text);
        assert_eq!(cut.len(), LOKI_MAX_LINE_BYTES - 1);
        assert_eq!(cut, format!("{}{LOKI_CUT_MARKER}", "x".repeat(keep - 1)));
    }

    #[test]
    fn the_byte_budget_refuses_what_does_not_fit_and_takes_it_back() {
        let budget = ByteBudget::default();
        assert!(budget.take(LOKI_QUEUE_BYTES - 10));
        assert!(!budget.take(11));
        assert!(budget.take(10));
        assert!(!budget.take(1));
        budget.give_back(LOKI_QUEUE_BYTES - 10);
        assert!(budget.take(LOKI_QUEUE_BYTES - 10));
        assert!(!budget.take(usize::MAX));
    }

    #[test]
    fn pushes_are_bounded_in_lines_and_bytes() {
        let line = |n: usize| Line {
            time: SystemTime::now(),
            level: Level::INFO,
            text: "x".repeat(n),
        };
        let big: Vec<Line> = (0..9).map(|_| line(LOKI_MAX_LINE_BYTES)).collect();
        let sizes: Vec<usize> = Batches(&big).map(<[Line]>::len).collect();
        assert_eq!(sizes, [4, 4, 1]);
        let small: Vec<Line> = (0..2500).map(|_| line(10)).collect();
        let sizes: Vec<usize> = Batches(&small).map(<[Line]>::len).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert_eq!(Batches(&[]).count(), 0);
    }

    #[test]
    fn labels_are_escaped() {
        let labels = StreamLabels::new(&LogIdentity {
            service: "a\"b".into(),
            instance: "c\\d".into(),
            dispatch: Default::default(),
        });
        assert_eq!(
            labels.0[&Level::WARN],
            "{service=\"a\\\"b\", instance=\"c\\\\d\", level=\"warn\"}"
        );
    }
}
