//! [`InstrumentedConnection`]: a `ConnectionLike` wrapper that records every command and
//! pipeline.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use obs_core::Metrics;
use obs_core::names::{DB_SYSTEM_REDIS, ERROR_TYPE_CANCELLED};
use obs_core::prometheus::{Histogram, HistogramVec};
use redis::aio::ConnectionLike;
use redis::{Arg, Cmd, ConnectionAddr, ConnectionInfo, Pipeline, RedisFuture, Value};
use tracing::{Instrument, Span};

use crate::commands::{self, COMMANDS, OPERATION_OTHER};
use crate::error::Error;
use crate::error_type::{error_type, server_error_type};

/// Whether spans carry `db.query.text` by default (off: commands carry keys and values).
pub const DEFAULT_QUERY_TEXT: bool = false;

/// `db_operation_name` of a transaction (`MULTI … EXEC` sent as an atomic pipeline).
pub const OPERATION_MULTI: &str = "MULTI";
/// `db_operation_name` of a pipeline whose commands differ.
pub const OPERATION_PIPELINE: &str = "PIPELINE";

/// A redis async connection that records every command it sends.
///
/// It implements [`ConnectionLike`], so `redis::cmd(..).query_async(&mut conn)`,
/// [`AsyncCommands`](redis::AsyncCommands) and pipelines work unchanged. It is [`Clone`]
/// when the wrapped connection is (`MultiplexedConnection`, `ConnectionManager`); clones
/// share one set of metric handles.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use redis::AsyncCommands;
///
/// let metrics = obs_core::Metrics::new();
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let conn = client.get_multiplexed_async_connection().await?;
/// let mut conn = obs_redis::InstrumentedConnection::new(conn, &metrics)?;
///
/// let _: () = conn.set("greeting", "hello").await?;
/// let greeting: String = conn.get("greeting").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InstrumentedConnection<C> {
    inner: C,
    shared: Arc<Shared>,
}

struct Shared {
    histogram: HistogramVec,
    /// Success handles, looked up once per operation name: index `i` is `COMMANDS[i]`,
    /// the last index is `OTHER`.
    commands: Box<[OnceLock<Histogram>]>,
    pipelines: Box<[OnceLock<Histogram>]>,
    query_text: bool,
    address: Option<String>,
    port: Option<u16>,
}

impl<C> InstrumentedConnection<C> {
    /// Wraps `inner` with the defaults, recording into `metrics`.
    ///
    /// # Errors
    /// When the database client families cannot be registered.
    pub fn new(inner: C, metrics: &Metrics) -> Result<Self, Error> {
        Self::builder(inner, metrics).build()
    }

    /// A builder to set span attributes and query text.
    pub fn builder(inner: C, metrics: &Metrics) -> InstrumentedConnectionBuilder<C> {
        InstrumentedConnectionBuilder {
            inner,
            metrics: metrics.clone(),
            query_text: DEFAULT_QUERY_TEXT,
            address: None,
            port: None,
        }
    }

    /// The wrapped connection. Commands sent on it directly are not recorded.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The wrapped connection, mutably.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> C {
        self.inner
    }
}

impl<C> fmt::Debug for InstrumentedConnection<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnection")
            .field("query_text", &self.shared.query_text)
            .field("server_address", &self.shared.address)
            .finish_non_exhaustive()
    }
}

/// Builds an [`InstrumentedConnection`]; see [`InstrumentedConnection::builder`].
#[must_use]
pub struct InstrumentedConnectionBuilder<C> {
    inner: C,
    metrics: Metrics,
    query_text: bool,
    address: Option<String>,
    port: Option<u16>,
}

impl<C> InstrumentedConnectionBuilder<C> {
    /// Whether spans carry `db.query.text`: the command name with every argument replaced by
    /// `?` (`SET ? ?`).
    ///
    /// Defaults to [`DEFAULT_QUERY_TEXT`] (off).
    pub fn query_text(mut self, enabled: bool) -> Self {
        self.query_text = enabled;
        self
    }

    /// The span attribute `server.address`.
    ///
    /// Defaults to none; [`connection_info`](Self::connection_info) sets it from a client.
    pub fn server_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// The span attribute `server.port`.
    ///
    /// Defaults to none; [`connection_info`](Self::connection_info) sets it from a client.
    pub fn server_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets `server.address` and `server.port` from a client's connection info
    /// (`client.get_connection_info()`).
    pub fn connection_info(mut self, info: &ConnectionInfo) -> Self {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                self.address = Some(host.clone());
                self.port = Some(*port);
            }
            ConnectionAddr::Unix(path) => {
                self.address = Some(path.to_string_lossy().into_owned());
                self.port = None;
            }
            _ => {}
        }
        self
    }

    /// Registers the metrics and returns the connection.
    ///
    /// # Errors
    /// When the database client families cannot be registered.
    pub fn build(self) -> Result<InstrumentedConnection<C>, Error> {
        let db = self.metrics.db_client()?;
        let slots = || (0..=COMMANDS.len()).map(|_| OnceLock::new()).collect();
        Ok(InstrumentedConnection {
            inner: self.inner,
            shared: Arc::new(Shared {
                histogram: db.operation_duration,
                commands: slots(),
                pipelines: slots(),
                query_text: self.query_text,
                address: self.address,
                port: self.port,
            }),
        })
    }
}

impl<C> fmt::Debug for InstrumentedConnectionBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnectionBuilder")
            .field("query_text", &self.query_text)
            .finish_non_exhaustive()
    }
}

/// What one command or pipeline records under.
#[derive(Clone, Copy)]
enum Operation {
    /// A command: its index in `COMMANDS`, or `None` for `OTHER`.
    Command(Option<usize>),
    /// A pipeline whose commands all have this name.
    PipelineOf(Option<usize>),
    Pipeline,
    Multi,
}

impl Operation {
    fn of_command(cmd: &Cmd) -> Self {
        Operation::Command(command_index(cmd))
    }

    fn of_pipeline(pipeline: &Pipeline) -> Self {
        if pipeline.is_transaction() {
            return Operation::Multi;
        }
        let mut names = pipeline.cmd_iter().map(command_index);
        match names.next() {
            Some(first) if names.all(|n| n == first) => Operation::PipelineOf(first),
            _ => Operation::Pipeline,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Operation::Command(i) => command_name(i),
            Operation::PipelineOf(i) => PIPELINE_OF[i.unwrap_or(COMMANDS.len())],
            Operation::Pipeline => OPERATION_PIPELINE,
            Operation::Multi => OPERATION_MULTI,
        }
    }
}

/// `PIPELINE GET`, … for every command, and `PIPELINE OTHER` last, built once.
static PIPELINE_OF: std::sync::LazyLock<Box<[&'static str]>> = std::sync::LazyLock::new(|| {
    COMMANDS
        .iter()
        .chain(std::iter::once(&OPERATION_OTHER))
        .map(|c| &*Box::leak(format!("{OPERATION_PIPELINE} {c}").into_boxed_str()))
        .collect()
});

fn command_index(cmd: &Cmd) -> Option<usize> {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => commands::lookup(name),
        _ => None,
    }
}

fn command_name(index: Option<usize>) -> &'static str {
    index.map_or(OPERATION_OTHER, |i| COMMANDS[i])
}

/// `SET ? ?`: the command name and a `?` per argument, so keys and values never leave.
fn masked_text(cmd: &Cmd) -> String {
    let mut args = cmd.args_iter();
    let name = match args.next() {
        Some(Arg::Simple(name)) => commands::normalize(name),
        _ => OPERATION_OTHER,
    };
    let mut text = String::from(name);
    for _ in args {
        text.push_str(" ?");
    }
    text
}

impl Shared {
    fn ok_histogram(&self, op: Operation) -> Option<&Histogram> {
        let (slots, index) = match op {
            Operation::Command(i) => (&self.commands, i.unwrap_or(COMMANDS.len())),
            Operation::PipelineOf(i) => (&self.pipelines, i.unwrap_or(COMMANDS.len())),
            Operation::Pipeline | Operation::Multi => return None,
        };
        let slot = slots.get(index)?;
        Some(slot.get_or_init(|| {
            self.histogram
                .with_label_values(&[DB_SYSTEM_REDIS, op.name(), "", ""])
        }))
    }

    fn start(&self, op: Operation, db: i64, text: impl FnOnce() -> String) -> Call<'_> {
        let name = op.name();
        let span = tracing::info_span!(
            target: "obs_redis",
            "redis.command",
            otel.name = name,
            otel.kind = "client",
            db.system.name = DB_SYSTEM_REDIS,
            db.operation.name = name,
            db.namespace = db,
            server.address = self.address.as_deref(),
            // Integers as i64: the OpenTelemetry bridge exports u64 as strings.
            server.port = self.port.map(i64::from),
            db.query.text = tracing::field::Empty,
            db.operation.batch.size = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if self.query_text && !span.is_disabled() {
            span.record("db.query.text", text());
        }
        Call {
            shared: self,
            op,
            span,
            start: Instant::now(),
            done: false,
        }
    }
}

/// The record of one command or pipeline; dropped unfinished, it records a cancellation.
struct Call<'a> {
    shared: &'a Shared,
    op: Operation,
    span: Span,
    start: Instant,
    done: bool,
}

impl Call<'_> {
    fn finish(&mut self, error: Option<&'static str>) {
        if self.done {
            return;
        }
        self.done = true;
        let seconds = self.start.elapsed().as_secs_f64();
        match (error, self.shared.ok_histogram(self.op)) {
            (None, Some(ok)) => ok.observe(seconds),
            (error, _) => self
                .shared
                .histogram
                .with_label_values(&[DB_SYSTEM_REDIS, self.op.name(), "", error.unwrap_or("")])
                .observe(seconds),
        }
        if let Some(error) = error {
            self.span.record("error.type", error);
            self.span.record("otel.status_code", "ERROR");
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.finish(Some(ERROR_TYPE_CANCELLED));
    }
}

impl<C: ConnectionLike + Send> ConnectionLike for InstrumentedConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let db = self.inner.get_db();
        let mut call = self
            .shared
            .start(Operation::of_command(cmd), db, || masked_text(cmd));
        let span = call.span.clone();
        let inner = self.inner.req_packed_command(cmd);
        Box::pin(
            async move {
                let result = inner.await;
                call.finish(match &result {
                    // Error replies come back as values; `query_async` raises them later.
                    Ok(Value::ServerError(e)) => Some(server_error_type(e)),
                    Ok(_) => None,
                    Err(e) => Some(error_type(e)),
                });
                result
            }
            .instrument(span),
        )
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let db = self.inner.get_db();
        let mut call = self.shared.start(Operation::of_pipeline(pipeline), db, || {
            let texts: Vec<String> = pipeline.cmd_iter().map(masked_text).collect();
            texts.join("\n")
        });
        if !call.span.is_disabled() {
            call.span.record(
                "db.operation.batch.size",
                i64::try_from(pipeline.len()).unwrap_or(i64::MAX),
            );
        }
        let span = call.span.clone();
        let inner = self.inner.req_packed_commands(pipeline, offset, count);
        Box::pin(
            async move {
                let result = inner.await;
                call.finish(match &result {
                    // The first failed command names the pipeline's error.
                    Ok(values) => values.iter().find_map(|v| match v {
                        Value::ServerError(e) => Some(server_error_type(e)),
                        _ => None,
                    }),
                    Err(e) => Some(error_type(e)),
                });
                result
            }
            .instrument(span),
        )
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_of_commands_and_pipelines() {
        assert_eq!(Operation::of_command(&redis::cmd("get")).name(), "GET");
        assert_eq!(Operation::of_command(&redis::cmd("NOPE")).name(), "OTHER");
        let mut same = redis::pipe();
        same.get("a").get("b");
        assert_eq!(Operation::of_pipeline(&same).name(), "PIPELINE GET");
        let mut mixed = redis::pipe();
        mixed.get("a").set("b", 1);
        assert_eq!(Operation::of_pipeline(&mixed).name(), "PIPELINE");
        let mut tx = redis::pipe();
        tx.atomic().get("a");
        assert_eq!(Operation::of_pipeline(&tx).name(), "MULTI");
        let mut odd = redis::pipe();
        odd.cmd("X1").cmd("X2");
        assert_eq!(Operation::of_pipeline(&odd).name(), "PIPELINE OTHER");
    }

    #[test]
    fn text_masks_every_argument() {
        let mut cmd = redis::cmd("set");
        cmd.arg("user:42").arg("secret");
        assert_eq!(masked_text(&cmd), "SET ? ?");
        assert_eq!(masked_text(&redis::cmd("PING")), "PING");
    }
}
