//! Memory limits (`resources.limits.memory`): a memory cgroup per container run (v2 or v1, whichever this
//! machine lets us write), or where neither works, polling the RSS of the container's process group and
//! SIGKILLing it over the limit. Owns cgroup directories and the OOM verdict; it must not start processes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::process;

/// How limits are enforced on this machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Mechanism {
    /// cgroup v2: `memory.max`, OOM kills counted in `memory.events`. Holds our parent cgroup.
    CgroupV2(PathBuf),
    /// cgroup v1: `memory.limit_in_bytes`, OOM kills counted in `memory.oom_control`. Holds our parent cgroup.
    CgroupV1(PathBuf),
    /// RSS of the process group, polled every 150 ms.
    Polling,
}

impl Mechanism {
    /// The first mechanism that works here: cgroup v2, then v1, then polling (or polling when asked).
    pub fn detect(force_polling: bool) -> Mechanism {
        if force_polling {
            return Mechanism::Polling;
        }
        let v2 = Path::new("/sys/fs/cgroup");
        let controllers = fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory") {
            let parent = v2.join("microfleet-pod-runner");
            let enabled = fs::write(v2.join("cgroup.subtree_control"), "+memory")
                .and_then(|()| fs::create_dir_all(&parent))
                .and_then(|()| fs::write(parent.join("cgroup.subtree_control"), "+memory"));
            if enabled.is_ok() {
                return Mechanism::CgroupV2(parent);
            }
        }
        let parent = Path::new("/sys/fs/cgroup/memory/microfleet-pod-runner");
        let writable = fs::create_dir_all(parent)
            .and_then(|()| fs::write(parent.join("memory.limit_in_bytes"), "-1"))
            .and_then(|()| fs::metadata(parent.join("memory.oom_control")).map(|_| ()));
        if writable.is_ok() {
            return Mechanism::CgroupV1(parent.to_path_buf());
        }
        Mechanism::Polling
    }

    /// A short name for logs and docs.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::CgroupV2(_) => "cgroup-v2",
            Mechanism::CgroupV1(_) => "cgroup-v1",
            Mechanism::Polling => "rss-polling",
        }
    }

    /// Prepares the limit of one container run (`id` must be unique among live runs).
    pub fn limit(&self, id: &str, bytes: u64) -> io::Result<Limit> {
        let cgroup = match self {
            Mechanism::CgroupV2(parent) => {
                let dir = parent.join(id);
                fs::create_dir_all(&dir)?;
                fs::write(dir.join("memory.max"), bytes.to_string())?;
                // no swap: best effort, the file is absent without swap accounting
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                Some(dir)
            }
            Mechanism::CgroupV1(parent) => {
                let dir = parent.join(id);
                fs::create_dir_all(&dir)?;
                fs::write(dir.join("memory.limit_in_bytes"), bytes.to_string())?;
                Some(dir)
            }
            Mechanism::Polling => None,
        };
        Ok(Limit { mechanism: self.clone(), cgroup, bytes, killed: Arc::new(AtomicBool::new(false)) })
    }
}

/// The memory limit of one container run.
#[derive(Debug)]
pub struct Limit {
    mechanism: Mechanism,
    cgroup: Option<PathBuf>,
    bytes: u64,
    killed: Arc<AtomicBool>,
}

impl Limit {
    /// The `cgroup.procs` file the process must join before exec, for cgroup mechanisms.
    pub fn procs_file(&self) -> Option<PathBuf> {
        self.cgroup.as_ref().map(|dir| dir.join("cgroup.procs"))
    }

    /// Enforces the limit on the process group led by `pid` until it exits (only polling needs this; with
    /// a cgroup the kernel does it and this never returns).
    pub async fn enforce(&self, pid: u32) {
        if self.cgroup.is_some() {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            if group_rss(pid) > self.bytes {
                tracing::info!(pid, limit = self.bytes, "memory limit exceeded; killing the container");
                self.killed.store(true, Ordering::SeqCst);
                process::signal_group(pid, libc::SIGKILL);
                return std::future::pending().await;
            }
        }
    }

    /// Whether the run was killed for exceeding its limit.
    pub fn oom_killed(&self) -> bool {
        let counter = |file: &str| {
            let dir = self.cgroup.as_ref()?;
            let text = fs::read_to_string(dir.join(file)).ok()?;
            let line = text.lines().find_map(|l| l.strip_prefix("oom_kill "))?;
            line.trim().parse::<u64>().ok()
        };
        match &self.mechanism {
            Mechanism::CgroupV2(_) => counter("memory.events").is_some_and(|n| n > 0),
            Mechanism::CgroupV1(_) => counter("memory.oom_control").is_some_and(|n| n > 0),
            Mechanism::Polling => self.killed.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        if let Some(dir) = &self.cgroup {
            if let Err(error) = fs::remove_dir(dir) {
                tracing::warn!(cgroup = %dir.display(), %error, "cannot remove the container's cgroup");
            }
        }
    }
}

/// The resident memory, in bytes, of every process in the group `pgid`.
fn group_rss(pgid: u32) -> u64 {
    let page = 4096;
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(stat) = fs::read_to_string(path.join("stat")) else { continue };
        // the fields after the command name (which may hold spaces) start with state, ppid, pgrp
        let Some((_, fields)) = stat.rsplit_once(')') else { continue };
        if fields.split_whitespace().nth(2).and_then(|p| p.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let statm = fs::read_to_string(path.join("statm")).unwrap_or_default();
        total += statm.split_whitespace().nth(1).and_then(|r| r.parse::<u64>().ok()).unwrap_or(0) * page;
    }
    total
}
