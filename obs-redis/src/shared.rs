//! [`Shared`]: what every clone of one instrumented connection shares.

use crate::instruments::Instruments;

/// The instruments and span settings of one instrumented connection and its clones.
pub(crate) struct Shared {
    pub(crate) instruments: Instruments,
    /// Whether spans carry `db.query.text`.
    pub(crate) query_text: bool,
    /// The span attribute `server.address`.
    pub(crate) address: Option<String>,
    /// The span attribute `server.port`.
    pub(crate) port: Option<u16>,
}
