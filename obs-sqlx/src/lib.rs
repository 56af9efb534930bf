//! Instrumented [sqlx] pools, connections and transactions.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod cache;
mod collector;
mod connection;
mod error;
mod error_type;
mod exec;
mod executor;
mod generator;
mod instrument;
mod lexer;
mod mask;
mod pool;
mod query;
mod summary;
mod transaction;

pub use connection::InstrumentedConnection;
pub use error::Error;
pub use executor::InstrumentedExecutor;
pub use pool::{
    DEFAULT_POOL_NAME, DEFAULT_QUERY_TEXT, DEFAULT_STATEMENT_CACHE_CAPACITY, InstrumentedPool,
    InstrumentedPoolBuilder,
};
pub use summary::OPERATION_OTHER;
pub use transaction::InstrumentedTransaction;
