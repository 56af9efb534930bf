//! `query_text(false)` leaves `db.query.text` off the spans of a real (SQLite) pool, while the
//! spans and their other attributes stay; a pool with the default keeps it.
//!
//! Alone in its test binary: tracing caches per-callsite interest globally.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use obs_core::Metrics;
use obs_sqlx::InstrumentedPool;
use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The attributes every span was opened with, by field name.
#[derive(Clone, Debug, Default)]
struct SpanFields(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for SpanFields {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push(fields);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The spans of `SELECT 1 WHERE 'secret' = 'secret'` through a pool built with `query_text`.
async fn spans_of_one_select(query_text: Option<bool>) -> Vec<BTreeMap<String, String>> {
    let metrics = Metrics::new();
    let mut builder = InstrumentedPool::builder(common::sqlite_memory(1).await, &metrics);
    if let Some(on) = query_text {
        builder = builder.query_text(on);
    }
    let pool = builder.build().unwrap();
    let spans = SpanFields::default();
    let run = {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT 1 WHERE 'secret' = 'secret'")
                .execute(&pool)
                .await
                .unwrap();
        }
    };
    run.with_subscriber(spans.clone()).await;
    spans.0.lock().unwrap().clone()
}

#[tokio::test]
async fn query_text_off_leaves_db_query_text_off_the_span() {
    let spans = spans_of_one_select(Some(false)).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(spans[0]["db.operation.name"], "SELECT");
    assert_eq!(spans[0]["db.system.name"], "sqlite");
    assert_eq!(spans[0].get("db.query.text"), None, "{spans:#?}");

    // The default keeps it, masked: the check above is not blind to the field.
    let spans = spans_of_one_select(None).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    assert_eq!(
        spans[0].get("db.query.text").map(String::as_str),
        Some("SELECT ? WHERE ? = ?")
    );
}
