//! [`InstrumentedConnectionBuilder`]: span settings of an [`InstrumentedConnection`].

use std::fmt;

use obs_core::Metrics;
use redis::{ConnectionAddr, ConnectionInfo};

use crate::connection::InstrumentedConnection;
use crate::error::Error;
use crate::instruments::Instruments;
use crate::shared::Shared;

/// Whether spans carry `db.query.text` by default (off: commands carry keys and values).
pub const DEFAULT_QUERY_TEXT: bool = false;

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
    pub(crate) fn new(inner: C, metrics: &Metrics) -> Self {
        InstrumentedConnectionBuilder {
            inner,
            metrics: metrics.clone(),
            query_text: DEFAULT_QUERY_TEXT,
            address: None,
            port: None,
        }
    }

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
        Ok(InstrumentedConnection::from_parts(
            self.inner,
            Shared {
                instruments: Instruments::new(db),
                query_text: self.query_text,
                address: self.address,
                port: self.port,
            },
        ))
    }
}

impl<C> fmt::Debug for InstrumentedConnectionBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedConnectionBuilder")
            .field("query_text", &self.query_text)
            .finish_non_exhaustive()
    }
}
