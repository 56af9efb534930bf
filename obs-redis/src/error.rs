//! The setup error of obs-redis.

/// An instrumented connection could not be set up.
///
/// Commands never return this type: they pass [`redis::RedisError`] through unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database client metric families could not be registered, usually because the
    /// registry already holds a metric of the same name that obs did not create.
    #[error(
        "cannot register the database client metrics: {0}; remove the conflicting metric from the registry"
    )]
    Metrics(#[from] obs_core::Error),
}
