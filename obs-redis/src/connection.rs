//! [`InstrumentedConnection`]: a `ConnectionLike` wrapper that records every command and
//! pipeline.

use std::fmt;
use std::sync::Arc;

use obs_core::Metrics;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use tracing::Instrument;

use crate::builder::InstrumentedConnectionBuilder;
use crate::call::Call;
use crate::error::Error;
use crate::error_type::{error_type, server_error_type};
use crate::mask::masked_text;
use crate::operation::Operation;
use crate::shared::Shared;

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

impl<C> InstrumentedConnection<C> {
    pub(crate) fn from_parts(inner: C, shared: Shared) -> Self {
        InstrumentedConnection {
            inner,
            shared: Arc::new(shared),
        }
    }

    /// Wraps `inner` with the defaults, recording into `metrics`.
    ///
    /// # Errors
    /// When the database client families cannot be registered.
    pub fn new(inner: C, metrics: &Metrics) -> Result<Self, Error> {
        Self::builder(inner, metrics).build()
    }

    /// A builder to set span attributes and query text.
    pub fn builder(inner: C, metrics: &Metrics) -> InstrumentedConnectionBuilder<C> {
        InstrumentedConnectionBuilder::new(inner, metrics)
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

impl<C: ConnectionLike + Send> ConnectionLike for InstrumentedConnection<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let db = self.inner.get_db();
        let mut call = Call::start(&self.shared, Operation::of_command(cmd), db, || {
            masked_text(cmd)
        });
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
        let mut call = Call::start(&self.shared, Operation::of_pipeline(pipeline), db, || {
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
