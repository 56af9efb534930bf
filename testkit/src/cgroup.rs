//! A memory cgroup of the test's own, to run a process under a memory limit as a container
//! would.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shell program that moves itself into the cgroup whose `cgroup.procs` is `$0`, then
/// becomes `$@`: `sh -c MOVE_AND_EXEC <procs file> <program> <args>...`.
pub const MOVE_AND_EXEC: &str = r#"echo $$ > "$0" && exec "$@""#;

/// A child of this process's memory cgroup with a limit, removed on drop once empty.
///
/// Needs root and a writable cgroup filesystem, v1 (`/sys/fs/cgroup/memory`) or v2 with the
/// memory controller delegated.
#[derive(Debug)]
pub struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    /// Creates the cgroup `name` limited to `limit_bytes`, or `None` when this machine does not
    /// allow it.
    pub fn create(name: &str, limit_bytes: u64) -> Option<Self> {
        let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        for line in membership.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let path = path.trim_start_matches('/');
            let (parent, file) = if controllers.split(',').any(|c| c == "memory") {
                (
                    Path::new("/sys/fs/cgroup/memory").join(path),
                    "memory.limit_in_bytes",
                )
            } else if id == "0" && controllers.is_empty() {
                (Path::new("/sys/fs/cgroup").join(path), "memory.max")
            } else {
                continue;
            };
            let dir = parent.join(name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let cgroup = MemoryCgroup { dir };
            if std::fs::write(cgroup.dir.join(file), limit_bytes.to_string()).is_ok() {
                return Some(cgroup);
            }
        }
        None
    }

    /// The file a process writes its pid to in order to join; the first argument after
    /// [`MOVE_AND_EXEC`].
    pub fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // A process killed a moment ago may not have left yet.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
