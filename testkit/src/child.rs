//! Running one test of the current test binary in a child process, for a test that needs a
//! process environment of its own (variables read from the environment, a system root store)
//! without changing the environment of the tests running beside it.

use std::process::Command;

/// Runs the `#[ignore]`d test `name` of the current test binary in a child process, after
/// `configure` has set its environment; the child runs only that test.
///
/// The child test should return at once when a variable only the parent sets is absent, so
/// that `cargo test -- --ignored` run by hand does nothing.
///
/// # Panics
/// When the child cannot be started, or its test fails (the message holds its output).
pub async fn run_test_in_child(name: &str, configure: impl FnOnce(&mut Command)) {
    let exe = std::env::current_exe().expect("the path of the test binary");
    let mut child = Command::new(exe);
    child.args(["--exact", name, "--ignored"]);
    configure(&mut child);
    let output = tokio::task::spawn_blocking(move || child.output())
        .await
        .expect("the child test's thread")
        .expect("start the child test");
    assert!(
        output.status.success(),
        "{name} failed in the child process:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
