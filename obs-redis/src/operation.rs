//! [`Operation`]: what one command or pipeline records under, and its `db_operation_name`.

use std::sync::LazyLock;

use obs_core::names::{OPERATION_MULTI, OPERATION_OTHER, OPERATION_PIPELINE};
use redis::{Arg, Cmd, Pipeline};

use crate::commands::{self, COMMANDS};

/// What one command or pipeline records under.
///
/// Commands and single-command pipelines index [`COMMANDS`] (`None` is
/// [`OPERATION_OTHER`]), so their success series can be cached per index.
#[derive(Clone, Copy)]
pub(crate) enum Operation {
    /// A command: its index in `COMMANDS`, or `None` for `OTHER`.
    Command(Option<usize>),
    /// A pipeline whose commands all have this name.
    PipelineOf(Option<usize>),
    Pipeline,
    Multi,
}

impl Operation {
    pub(crate) fn of_command(cmd: &Cmd) -> Self {
        Operation::Command(command_index(cmd))
    }

    pub(crate) fn of_pipeline(pipeline: &Pipeline) -> Self {
        if pipeline.is_transaction() {
            return Operation::Multi;
        }
        let mut names = pipeline.cmd_iter().map(command_index);
        match names.next() {
            Some(first) if names.all(|n| n == first) => Operation::PipelineOf(first),
            _ => Operation::Pipeline,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Command(i) => command_name(i),
            Operation::PipelineOf(i) => PIPELINE_OF[i.unwrap_or(COMMANDS.len())],
            Operation::Pipeline => OPERATION_PIPELINE,
            Operation::Multi => OPERATION_MULTI,
        }
    }
}

/// `PIPELINE GET`, … for every command, and `PIPELINE OTHER` last, built once.
static PIPELINE_OF: LazyLock<Box<[&'static str]>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .chain(std::iter::once(&OPERATION_OTHER))
        .map(|c| &*Box::leak(format!("{OPERATION_PIPELINE} {c}").into_boxed_str()))
        .collect()
});

fn command_index(cmd: &Cmd) -> Option<usize> {
    match cmd.args_iter().next() {
        Some(Arg::Simple(name)) => commands::lookup(name),
        _ => None,
    }
}

fn command_name(index: Option<usize>) -> &'static str {
    index.map_or(OPERATION_OTHER, |i| COMMANDS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_of_commands_and_pipelines() {
        assert_eq!(Operation::of_command(&redis::cmd("get")).name(), "GET");
        assert_eq!(Operation::of_command(&redis::cmd("NOPE")).name(), "OTHER");
        let mut same = redis::pipe();
        same.get("a").get("b");
        assert_eq!(Operation::of_pipeline(&same).name(), "PIPELINE GET");
        let mut mixed = redis::pipe();
        mixed.get("a").set("b", 1);
        assert_eq!(Operation::of_pipeline(&mixed).name(), "PIPELINE");
        let mut tx = redis::pipe();
        tx.atomic().get("a");
        assert_eq!(Operation::of_pipeline(&tx).name(), "MULTI");
        let mut odd = redis::pipe();
        odd.cmd("X1").cmd("X2");
        assert_eq!(Operation::of_pipeline(&odd).name(), "PIPELINE OTHER");
    }
}
