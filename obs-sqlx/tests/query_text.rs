//! `db.query.text` on the spans of a real (SQLite) pool: literals the lexer once leaked are
//! masked, and the text is capped at `MAX_QUERY_TEXT_LEN`.
//!
//! Alone in its test binary: tracing caches per-callsite interest globally.

#![allow(clippy::unwrap_used)]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use obs_core::Metrics;
use obs_sqlx::{InstrumentedPool, MAX_QUERY_TEXT_LEN};
use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Collects the `db.query.text` of every span opened.
#[derive(Clone, Debug, Default)]
struct QueryTexts(Arc<Mutex<Vec<String>>>);

impl Visit for QueryTexts {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "db.query.text" {
            self.0.lock().unwrap().push(value.to_owned());
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn Debug) {}
}

impl Subscriber for QueryTexts {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut self.clone());
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn query_text_masks_every_literal_and_is_capped() {
    assert_eq!(MAX_QUERY_TEXT_LEN, 4096);
    let metrics = Metrics::new();
    let raw = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    let pool = InstrumentedPool::new(raw, &metrics).unwrap();
    let long = format!("SELECT 'x' AS {}", "a".repeat(5000));
    let statements = [
        "SELECT 1 WHERE 'alice@example.com' IN (ARRAY['alice@example.com','bob@example.com'])"
            .to_owned(),
        "/* a /* b */ ssn=123456789 */ SELECT 1".to_owned(),
        "SELECT $body1$hunter2$body1$".to_owned(),
        "SELECT 1_000_000, 'it''s' -- token=abc123".to_owned(),
        long,
    ];
    let texts = QueryTexts::default();
    let run = {
        let pool = pool.clone();
        async move {
            for sql in statements {
                // Several are not SQLite: they fail, and are recorded all the same.
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            }
        }
    };
    run.with_subscriber(texts.clone()).await;

    let recorded = texts.0.lock().unwrap().clone();
    assert_eq!(
        recorded,
        vec![
            "SELECT ? WHERE ? IN (ARRAY[?,?])".to_owned(),
            "SELECT ?".to_owned(),
            "SELECT ?".to_owned(),
            "SELECT ?, ?".to_owned(),
            // 12 + 4081 bytes, then the 3-byte marker: 4096.
            format!("SELECT ? AS {}…", "a".repeat(4081)),
        ]
    );
}
