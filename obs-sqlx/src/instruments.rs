//! [`Instruments`]: the metric handles of one pool, and per distinct statement text its
//! summary, span name, masked text and success series, worked out once, so a repeated
//! statement costs one map lookup and neither hashes label strings nor takes the registry's
//! locks.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use obs_core::names::{MAX_NAMED_OPERATIONS, MAX_OPERATION_NAME_LEN, OPERATION_OTHER};
use obs_core::{DbClientMetrics, DbOperationLabels, DbPoolSeries, ExemplarHistogram};

use crate::mask::mask;
use crate::shared::Override;
use crate::summary::summarize;

/// Every series one pool records into, shared by its clones, connections and transactions.
#[derive(Debug)]
pub(crate) struct Instruments {
    db: DbClientMetrics,
    /// The pool's wait-time histogram and timeout counter.
    pub(crate) pool: DbPoolSeries,
    /// Per statement text, what it records under.
    pub(crate) statements: StatementCache,
    /// The caller-chosen names admitted as label values.
    pub(crate) named: NamedOperations,
}

impl Instruments {
    pub(crate) fn new(db: DbClientMetrics, pool_name: &str, cache_capacity: usize) -> Self {
        Instruments {
            pool: db.pool(pool_name),
            statements: StatementCache::new(cache_capacity),
            named: NamedOperations::default(),
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

/// The caller-chosen (operation, table) pairs one pool has recorded under, at most
/// [`MAX_NAMED_OPERATIONS`]. Names are `&'static str`, but a leaked or generated string is one
/// too: the bound holds whatever the caller passes.
#[derive(Debug, Default)]
pub(crate) struct NamedOperations {
    admitted: RwLock<HashSet<(&'static str, &'static str)>>,
}

/// What a pair beyond the bound records under: `OTHER`, no table.
const OTHER: Override = Override {
    operation: OPERATION_OTHER,
    collection: "",
};

impl NamedOperations {
    /// `over` itself if it is admitted (already, or now while there is room), else
    /// [`OPERATION_OTHER`] without a table. A name longer than [`MAX_OPERATION_NAME_LEN`]
    /// bytes is never admitted.
    pub(crate) fn admit(&self, over: Override) -> Override {
        if over.operation.len() > MAX_OPERATION_NAME_LEN
            || over.collection.len() > MAX_OPERATION_NAME_LEN
        {
            return OTHER;
        }
        let pair = (over.operation, over.collection);
        if self
            .admitted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&pair)
        {
            return over;
        }
        let mut admitted = self.admitted.write().unwrap_or_else(|p| p.into_inner());
        if admitted.len() < MAX_NAMED_OPERATIONS {
            admitted.insert(pair);
        }
        if admitted.contains(&pair) {
            over
        } else {
            OTHER
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

    #[test]
    fn named_operations_stop_at_their_bound() {
        let named = NamedOperations::default();
        let over = |operation, collection| Override {
            operation,
            collection,
        };
        let names: Vec<&'static str> = (0..200)
            .map(|i| &*Box::leak(format!("op{i}").into_boxed_str()))
            .collect();
        for name in &names[..MAX_NAMED_OPERATIONS] {
            assert_eq!(named.admit(over(name, "t")).operation, *name);
        }
        let beyond = named.admit(over(names[MAX_NAMED_OPERATIONS], "t"));
        assert_eq!((beyond.operation, beyond.collection), (OPERATION_OTHER, ""));
        // Admitted pairs keep their names once full.
        assert_eq!(named.admit(over(names[0], "t")).operation, names[0]);
        let long: &'static str = Box::leak("x".repeat(MAX_OPERATION_NAME_LEN + 1).into_boxed_str());
        assert_eq!(
            NamedOperations::default().admit(over(long, "")).operation,
            OPERATION_OTHER
        );
        assert_eq!(
            NamedOperations::default().admit(over("op", long)).operation,
            OPERATION_OTHER
        );
    }
}
