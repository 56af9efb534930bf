//! The setup error of obs-sqlx.

/// An instrumented pool could not be set up.
///
/// Statements never return this type: they pass [`sqlx::Error`] through unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database client metric families could not be registered, usually because the
    /// registry already holds a metric of the same name that obs did not create.
    #[error(
        "cannot register the database client metrics: {0}; remove the conflicting metric from the registry"
    )]
    Metrics(#[from] obs_core::Error),
    /// A pool of this name already reports connection metrics in this registry.
    #[error(
        "a pool named `{0}` is already registered; give each pool its own name with `.pool_name(..)`"
    )]
    DuplicatePoolName(String),
    /// The pool collector could not be registered.
    #[error("cannot register the pool collector: {0}")]
    Collector(#[source] obs_core::prometheus::Error),
}
