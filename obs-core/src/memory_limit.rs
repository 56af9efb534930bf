//! `process_memory_limit_bytes`: the memory limit of the process's cgroup, read at scrape time.
//!
//! `process_resident_memory_bytes` alone cannot say whether a process is close to being killed:
//! that depends on the limit its container runs under. This collector reports the limit the
//! kernel enforces (the smallest `memory.max` on the cgroup v2 path up to the root, or
//! `memory.limit_in_bytes` under cgroup v1) and reports nothing when there is none, so an alert
//! on the ratio stays silent on hosts without a limit instead of comparing against a guess.
//!
//! The files are read on every scrape (a few hundred bytes): a limit resized in place, as
//! Kubernetes can, shows on the next scrape.

use std::path::{Path, PathBuf};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, Opts};

use crate::names::PROCESS_MEMORY_LIMIT;

/// Values at or above this are how cgroup v1 spells "no limit" (the largest page-aligned
/// `i64`, 9223372036854771712, on x86-64).
const V1_UNLIMITED_FROM: u64 = 1 << 62;

/// Reports the cgroup memory limit of this process, when it has one.
#[derive(Debug)]
pub(crate) struct MemoryLimitCollector {
    desc: Desc,
    gauge: Gauge,
    root: PathBuf,
    proc_cgroup: PathBuf,
}

impl MemoryLimitCollector {
    /// The collector for this process, reading `/proc/self/cgroup` and `/sys/fs/cgroup`.
    pub(crate) fn for_self() -> Result<Self, prometheus::Error> {
        Self::at(Path::new("/sys/fs/cgroup"), Path::new("/proc/self/cgroup"))
    }

    fn at(root: &Path, proc_cgroup: &Path) -> Result<Self, prometheus::Error> {
        let gauge = Gauge::with_opts(Opts::new(
            PROCESS_MEMORY_LIMIT,
            "Memory limit of the process's cgroup in bytes; absent without a limit.",
        ))?;
        let desc = gauge.desc()[0].clone();
        Ok(MemoryLimitCollector {
            desc,
            gauge,
            root: root.to_owned(),
            proc_cgroup: proc_cgroup.to_owned(),
        })
    }

    /// The enforced limit in bytes, or `None` without one (or without cgroups).
    fn limit(&self) -> Option<u64> {
        let membership = std::fs::read_to_string(&self.proc_cgroup).ok()?;
        limit_of(&self.root, &membership)
    }
}

impl Collector for MemoryLimitCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        match self.limit() {
            Some(bytes) => {
                // Precision: limits are page multiples far below 2^53.
                self.gauge.set(bytes as f64);
                self.gauge.collect()
            }
            None => Vec::new(),
        }
    }
}

/// The limit for a process whose `/proc/<pid>/cgroup` reads `membership`, with the cgroup
/// filesystem mounted at `root`.
///
/// Lines are `hierarchy-id:controllers:path`. cgroup v1 names the `memory` controller and
/// mounts it at `root/memory`; its `memory.limit_in_bytes` is already the effective limit for
/// hierarchical accounting. cgroup v2 has one line `0::path`; every ancestor's `memory.max`
/// applies, so the smallest one counts.
fn limit_of(root: &Path, membership: &str) -> Option<u64> {
    let mut v2_path = None;
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.split(',').any(|c| c == "memory") {
            let file = root
                .join("memory")
                .join(relative(path))
                .join("memory.limit_in_bytes");
            return read_number(&file).filter(|&bytes| bytes < V1_UNLIMITED_FROM);
        }
        if id == "0" && controllers.is_empty() {
            v2_path = Some(path);
        }
    }
    let mut dir = root.join(relative(v2_path?));
    let mut smallest: Option<u64> = None;
    loop {
        // "max" (no limit) reads as no number.
        if let Some(bytes) = read_number(&dir.join("memory.max")) {
            smallest = Some(smallest.map_or(bytes, |s| s.min(bytes)));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            break;
        }
    }
    smallest
}

fn relative(path: &str) -> &Path {
    Path::new(path.trim_start_matches('/'))
}

fn read_number(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> PathBuf {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "obs-cgroup-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&root).unwrap();
        for (path, content) in files {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        root
    }

    #[test]
    fn v2_takes_the_smallest_limit_up_to_the_root() {
        let root = tree(&[
            ("memory.max", "max\n"),
            ("kubepods/memory.max", "1073741824\n"),
            ("kubepods/pod1/memory.max", "max\n"),
            ("kubepods/pod1/app/memory.max", "536870912\n"),
        ]);
        assert_eq!(limit_of(&root, "0::/kubepods/pod1/app\n"), Some(536870912));
        assert_eq!(limit_of(&root, "0::/kubepods/pod1\n"), Some(1073741824));
        assert_eq!(
            limit_of(&root, "0::/\n"),
            None,
            "max at the root is no limit"
        );
    }

    #[test]
    fn v1_reads_the_memory_controller_and_ignores_its_unlimited_value() {
        let root = tree(&[
            ("memory/docker/abc/memory.limit_in_bytes", "268435456\n"),
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        let limited = "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(limit_of(&root, limited), Some(268435456));
        assert_eq!(limit_of(&root, "4:memory:/\n"), None);
    }

    #[test]
    fn no_cgroup_files_means_no_sample() {
        let root = tree(&[]);
        let collector = MemoryLimitCollector::at(&root, &root.join("absent")).unwrap();
        assert!(collector.collect().is_empty());
        std::fs::write(root.join("cgroup"), "0::/\n").unwrap();
        let collector = MemoryLimitCollector::at(&root, &root.join("cgroup")).unwrap();
        assert!(collector.collect().is_empty(), "no memory.max file");
        std::fs::write(root.join("memory.max"), "4096\n").unwrap();
        let family = collector.collect();
        assert_eq!(family[0].name(), PROCESS_MEMORY_LIMIT);
        assert_eq!(family[0].get_metric()[0].get_gauge().get_value(), 4096.0);
    }
}
