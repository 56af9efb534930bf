//! [`Instruments`]: the metric handles of one pool, and per distinct statement text its
//! summary, span name, masked text and success series, worked out once, so a repeated
//! statement costs one map lookup and neither hashes label strings nor takes the registry's
//! locks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use obs_core::{DbClientMetrics, DbOperationLabels, DbPoolSeries, ExemplarHistogram};

use crate::mask::mask;
use crate::summary::summarize;

/// Every series one pool records into, shared by its clones, connections and transactions.
#[derive(Debug)]
pub(crate) struct Instruments {
    db: DbClientMetrics,
    /// The pool's wait-time histogram and timeout counter.
    pub(crate) pool: DbPoolSeries,
    /// Per statement text, what it records under.
    pub(crate) statements: StatementCache,
}

impl Instruments {
    pub(crate) fn new(db: DbClientMetrics, pool_name: &str, cache_capacity: usize) -> Self {
        Instruments {
            pool: db.pool(pool_name),
            statements: StatementCache::new(cache_capacity),
            db,
        }
    }

    /// What a statement of `system` records under, uncached: for caller-chosen names and
    /// statements without text.
    pub(crate) fn entry(
        &self,
        system: &'static str,
        operation: &'static str,
        collection: &str,
        query_text: Option<Box<str>>,
    ) -> Entry {
        Entry::new(&self.db, system, operation, collection, query_text)
    }

    /// The cached entry of `sql`, summarising it on first sight.
    pub(crate) fn statement(
        &self,
        sql: &str,
        system: &'static str,
        double_quoted_strings: bool,
        query_text: bool,
    ) -> Arc<Entry> {
        self.statements
            .get(sql, &self.db, system, double_quoted_strings, query_text)
    }

    /// The series of `entry` failed with `error_type`. Failures are rare, so not cached.
    pub(crate) fn failed(
        &self,
        system: &str,
        entry: &Entry,
        error_type: &str,
    ) -> ExemplarHistogram {
        self.db.operation_duration(DbOperationLabels {
            system,
            operation: entry.operation,
            collection: &entry.collection,
            error_type,
        })
    }
}

/// What a statement records under, worked out once per statement text.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) operation: &'static str,
    pub(crate) collection: Box<str>,
    /// `{operation} {collection}`, or the operation alone.
    pub(crate) span_name: Box<str>,
    /// The masked statement, when query text is switched on.
    pub(crate) query_text: Option<Box<str>>,
    /// `db_client_operation_duration_seconds` with an empty `error_type`.
    pub(crate) ok: ExemplarHistogram,
}

impl Entry {
    pub(crate) fn new(
        db: &DbClientMetrics,
        system: &'static str,
        operation: &'static str,
        collection: &str,
        query_text: Option<Box<str>>,
    ) -> Self {
        let span_name = if collection.is_empty() {
            operation.into()
        } else {
            format!("{operation} {collection}").into_boxed_str()
        };
        Entry {
            operation,
            collection: collection.into(),
            span_name,
            query_text,
            ok: db.operation_duration(DbOperationLabels {
                system,
                operation,
                collection,
                error_type: "",
            }),
        }
    }
}

/// A bounded map from statement text to [`Entry`].
///
/// Once full it stops inserting: statements beyond the first `capacity` distinct texts are
/// summarised on every call, which is correct, only slower. Applications with that many
/// distinct statements build SQL dynamically, and evicting would only churn.
#[derive(Debug)]
pub(crate) struct StatementCache {
    map: RwLock<HashMap<Box<str>, Arc<Entry>>>,
    capacity: usize,
}

impl StatementCache {
    pub(crate) fn new(capacity: usize) -> Self {
        StatementCache {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The entry of `sql`, summarising and caching it on first sight.
    pub(crate) fn get(
        &self,
        sql: &str,
        db: &DbClientMetrics,
        system: &'static str,
        double_quoted_strings: bool,
        query_text: bool,
    ) -> Arc<Entry> {
        if let Some(entry) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(sql) {
            return Arc::clone(entry);
        }
        let summary = summarize(sql, double_quoted_strings);
        let text = query_text.then(|| mask(sql, double_quoted_strings).into_boxed_str());
        let entry = Arc::new(Entry::new(
            db,
            system,
            summary.operation,
            &summary.collection,
            text,
        ));
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() < self.capacity {
            map.entry(sql.into()).or_insert_with(|| Arc::clone(&entry));
        }
        entry
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_growing_at_capacity() {
        let db = obs_core::Metrics::new().db_client().unwrap();
        let cache = StatementCache::new(2);
        for i in 0..10 {
            let sql = format!("SELECT * FROM t{i}");
            let entry = cache.get(&sql, &db, "sqlite", false, true);
            assert_eq!(&*entry.collection, format!("t{i}"));
            assert_eq!(entry.query_text.as_deref(), Some(sql.as_str()));
        }
        assert_eq!(cache.len(), 2);
        let again = cache.get("SELECT * FROM t0", &db, "sqlite", false, true);
        assert_eq!(&*again.span_name, "SELECT t0");
    }
}
