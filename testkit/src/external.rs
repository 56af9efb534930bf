//! Skipping, or failing, when a test's external dependency is missing.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;

/// Whether missing services and binaries fail tests (`OBS_TEST_REQUIRE=1`, set by CI).
pub fn required() -> bool {
    matches!(
        std::env::var("OBS_TEST_REQUIRE").as_deref(),
        Ok("1") | Ok("true")
    )
}

/// A missing dependency: the test returns early after printing why.
#[derive(Debug)]
pub struct Skip(pub String);

/// Reports a missing dependency: panics under `OBS_TEST_REQUIRE=1`, otherwise prints the reason
/// and returns [`Skip`] for the test to return early with.
///
/// # Panics
/// When `OBS_TEST_REQUIRE=1`.
pub fn require(reason: impl Into<String>) -> Skip {
    let reason = reason.into();
    assert!(
        !required(),
        "{reason}; OBS_TEST_REQUIRE=1 makes this a failure (see README: CI setup)"
    );
    eprintln!("skipping: {reason} (set OBS_TEST_REQUIRE=1 to make this fail)");
    Skip(reason)
}

/// The path of `name` on `PATH`, if it is installed.
pub fn binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `promtool check metrics` on `exposition`.
///
/// Returns `Ok(None)` when promtool is missing and not required, `Ok(Some(output))` when it
/// passed, and `Err(output)` with its complaints when it failed.
///
/// # Panics
/// When promtool is missing under `OBS_TEST_REQUIRE=1`.
pub async fn promtool_check_metrics(exposition: &str) -> Result<Option<String>, String> {
    let Some(promtool) = binary("promtool") else {
        require("promtool is not installed (Debian package `prometheus`)");
        return Ok(None);
    };
    let mut child = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run promtool: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("promtool stdin")?;
    stdin
        .write_all(exposition.as_bytes())
        .await
        .map_err(|e| format!("writing to promtool: {e}"))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("waiting for promtool: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(Some(text))
    } else {
        Err(text)
    }
}
