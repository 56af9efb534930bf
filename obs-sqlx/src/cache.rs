//! The per-statement cache: summary, span name, masked text and the success histogram handle
//! of each distinct statement text, so repeated statements cost one map lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use obs_core::prometheus::Histogram;
use obs_core::{DbClientMetrics, DbOperationLabels};

use crate::mask::mask;
use crate::summary::summarize;

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
    pub(crate) ok: Histogram,
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
