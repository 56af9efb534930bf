//! Instrumented [redis] connections.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod commands;
mod connection;
mod error;
mod error_type;

pub use commands::OPERATION_OTHER;
pub use connection::{
    DEFAULT_QUERY_TEXT, InstrumentedConnection, InstrumentedConnectionBuilder, OPERATION_MULTI,
    OPERATION_PIPELINE,
};
pub use error::Error;
