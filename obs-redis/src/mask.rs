//! `db.query.text` of a command: its name and a `?` per argument.

use obs_core::names::OPERATION_OTHER;
use redis::{Arg, Cmd};

use crate::commands;

/// `SET ? ?`: the command name and a `?` per argument, so keys and values never leave.
pub(crate) fn masked_text(cmd: &Cmd) -> String {
    let mut args = cmd.args_iter();
    let name = match args.next() {
        Some(Arg::Simple(name)) => commands::normalize(name),
        _ => OPERATION_OTHER,
    };
    let mut text = String::from(name);
    for _ in args {
        text.push_str(" ?");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_masks_every_argument() {
        let mut cmd = redis::cmd("set");
        cmd.arg("user:42").arg("secret");
        assert_eq!(masked_text(&cmd), "SET ? ?");
        assert_eq!(masked_text(&redis::cmd("PING")), "PING");
    }
}
