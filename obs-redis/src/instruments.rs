//! [`Instruments`]: the metric handles of one wrapped connection, the success series looked up
//! once per operation and kept, so a command neither hashes label strings nor takes the
//! registry's locks.

use std::sync::OnceLock;
use std::time::Instant;

use obs_core::names::DB_SYSTEM_REDIS;
use obs_core::{DbClientMetrics, DbOperationLabels, ExemplarHistogram, SampledSpan};

use crate::commands::COMMANDS;
use crate::operation::Operation;

/// Every series a connection records into, shared by its clones.
pub(crate) struct Instruments {
    db: DbClientMetrics,
    /// Success series of commands: index `i` is `COMMANDS[i]`, the last index is `OTHER`.
    commands: Box<[OnceLock<ExemplarHistogram>]>,
    /// Success series of single-command pipelines (`PIPELINE GET`), indexed as `commands`.
    pipelines: Box<[OnceLock<ExemplarHistogram>]>,
}

impl Instruments {
    pub(crate) fn new(db: DbClientMetrics) -> Self {
        let slots = || (0..=COMMANDS.len()).map(|_| OnceLock::new()).collect();
        Instruments {
            db,
            commands: slots(),
            pipelines: slots(),
        }
    }

    /// Records `seconds` of `op`, which failed with `error_type` or succeeded (`None`);
    /// `sampled` is the operation's span when sampled, the exemplar, observed `at`.
    pub(crate) fn observe(
        &self,
        op: Operation,
        error_type: Option<&str>,
        seconds: f64,
        sampled: Option<SampledSpan>,
        at: Instant,
    ) {
        match (error_type, self.success(op)) {
            (None, Some(ok)) => ok.observe_with_exemplar_at(seconds, sampled, at),
            (error_type, _) => self
                .db
                .operation_duration(labels(op, error_type.unwrap_or_default()))
                .observe_with_exemplar_at(seconds, sampled, at),
        }
    }

    /// The cached success series of `op`; `None` for the operations not cached (mixed
    /// pipelines and transactions, whose one series each is looked up when recorded).
    fn success(&self, op: Operation) -> Option<&ExemplarHistogram> {
        let (slots, index) = match op {
            Operation::Command(i) => (&self.commands, i.unwrap_or(COMMANDS.len())),
            Operation::PipelineOf(i) => (&self.pipelines, i.unwrap_or(COMMANDS.len())),
            Operation::Pipeline | Operation::Multi => return None,
        };
        let slot = slots.get(index)?;
        Some(slot.get_or_init(|| self.db.operation_duration(labels(op, ""))))
    }
}

/// The labels of `op`: Redis has no collection.
fn labels(op: Operation, error_type: &str) -> DbOperationLabels<'_> {
    DbOperationLabels {
        system: DB_SYSTEM_REDIS,
        operation: op.name(),
        collection: "",
        error_type,
    }
}
