//! `process_memory_limit_bytes` reports the limit the kernel enforces: this test runs a copy of
//! itself inside a new memory cgroup limited to 256 MiB and reads the copy's exposition.
//!
//! Creating a cgroup needs root and a writable cgroup filesystem (CI has both); without them the
//! test skips on a laptop and fails under `OBS_TEST_REQUIRE=1`.

#![cfg(all(target_os = "linux", feature = "process"))]
#![allow(clippy::unwrap_used, missing_docs)]

use std::process::Command;

const LIMIT: u64 = 256 * 1024 * 1024;
const CHILD: &str = "OBS_MEMORY_LIMIT_CHILD";

#[test]
fn the_limit_of_the_process_cgroup_is_exported() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let name = format!("obs-memory-limit-{}", std::process::id());
    let Some(cgroup) = obs_testkit::MemoryCgroup::create(&name, LIMIT) else {
        obs_testkit::require("no writable memory cgroup (needs root and cgroupfs)");
        return;
    };
    // The shell joins the cgroup, then becomes this test binary running the reporter.
    let output = Command::new("sh")
        .arg("-c")
        .arg(obs_testkit::MOVE_AND_EXEC)
        .arg(cgroup.procs_file())
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "reporter", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("process_memory_limit_bytes "))
        .unwrap_or_else(|| panic!("no sample in the child's exposition:\n{stdout}"));
    assert_eq!(line, format!("process_memory_limit_bytes {LIMIT}"));
}

/// Run by the test above inside the limited cgroup: prints the exposition.
#[test]
#[ignore = "run inside a limited cgroup by the_limit_of_the_process_cgroup_is_exported"]
fn reporter() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    print!("{}", obs_core::Metrics::new().encode().unwrap());
}
