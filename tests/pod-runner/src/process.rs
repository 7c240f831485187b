//! Starting a container's process: its own session (so it can be signalled as a group), a private mount
//! namespace with the pod's volumes bind-mounted at their mount paths, an optional memory cgroup, its user,
//! death with the runner (the parent-death signal), its network namespace when the pod has one, and its
//! output appended to a log file. Owns the unsafe `pre_exec` code; it must not decide what to mount.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use tokio::process::{Child, Command};

use crate::security::User;

/// One bind mount inside the container's mount namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct BindMount {
    /// The host path mounted.
    pub source: PathBuf,
    /// Where the container sees it.
    pub target: PathBuf,
    /// Remounted read-only.
    pub read_only: bool,
}

/// Everything needed to start one container run.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The binary.
    pub program: PathBuf,
    /// argv after the binary.
    pub args: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// The working directory (inside the mounts).
    pub working_dir: Option<PathBuf>,
    /// Bind mounts (made parents first).
    pub mounts: Vec<BindMount>,
    /// Where stdout and stderr go (appended).
    pub log_file: PathBuf,
    /// A cgroup's `cgroup.procs` file the process joins before it execs.
    pub cgroup_procs: Option<PathBuf>,
    /// The user to become after mounting (root when `None`).
    pub user: Option<User>,
    /// Remount `/` read-only after the bind mounts (which stay writable unless read-only themselves).
    pub read_only_root: bool,
    /// A network namespace to join (`/run/netns/<name>`); `None`: the host network.
    pub netns: Option<PathBuf>,
}

/// Starts the process. Mount points missing on the host are created first (directories for directory
/// sources, empty files for file sources).
pub fn spawn(launch: &Launch) -> io::Result<Child> {
    // parents first, as container runtimes mount them, so a volume inside another one stays visible
    let mut mounts = launch.mounts.clone();
    mounts.sort_by_key(|m| m.target.components().count());
    for (index, mount) in mounts.iter().enumerate() {
        ensure_mount_point(&mount.source, &host_path(&mounts[..index], &mount.target))?;
    }
    // a missing working directory is made, as runc makes it
    if let Some(dir) = &launch.working_dir {
        fs::create_dir_all(host_path(&mounts, dir))?;
    }
    let log = OpenOptions::new().create(true).append(true).open(&launch.log_file)?;
    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(false);
    // opened before the fork, kept open until the child has joined it (closed on exec)
    let netns = launch.netns.as_deref().map(fs::File::open).transpose()?;
    let setup = ChildSetup::new(launch, &mounts, netns.as_ref().map(std::os::fd::AsRawFd::as_raw_fd))?;
    // SAFETY: the closure runs in the forked child before exec; it only calls async-signal-safe libc
    // functions on data prepared before the fork, and allocates nothing.
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    let child = command.spawn();
    drop(netns);
    child
}

/// Sends `signal` to the process group the container leads.
pub fn signal_group(pid: u32, signal: i32) {
    let Ok(pid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe {
        libc::kill(-pid, signal);
    }
}

/// The container's exit code (128 + signal when a signal ended it) and that signal.
pub fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        (None, None) => (255, None),
    }
}

/// Where `path` of the container is on the host before `mounts` are made: inside the source of the last
/// mount that covers it (e.g. a volume mounted inside another volume), or on the host itself.
fn host_path(mounts: &[BindMount], path: &Path) -> PathBuf {
    let covering = mounts.iter().rev().find(|m| path.starts_with(&m.target) && m.target != path);
    match covering.and_then(|m| Some((m, path.strip_prefix(&m.target).ok()?))) {
        Some((m, inside)) => m.source.join(inside),
        None => path.to_path_buf(),
    }
}

fn ensure_mount_point(source: &Path, target: &Path) -> io::Result<()> {
    if target.exists() {
        return Ok(());
    }
    if source.is_dir() {
        fs::create_dir_all(target)
    } else {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        OpenOptions::new().create(true).truncate(false).write(true).open(target).map(|_| ())
    }
}

/// What the child does between fork and exec, prepared as C strings before the fork.
struct ChildSetup {
    netns: Option<libc::c_int>,
    mounts: Vec<(CString, CString, bool)>,
    working_dir: Option<CString>,
    cgroup_procs: Option<CString>,
    user: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    read_only_root: bool,
}

impl ChildSetup {
    fn new(launch: &Launch, mounts: &[BindMount], netns: Option<libc::c_int>) -> io::Result<ChildSetup> {
        let c = |path: &Path| CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other);
        let mounts =
            mounts.iter().map(|m| Ok((c(&m.source)?, c(&m.target)?, m.read_only))).collect::<io::Result<Vec<_>>>()?;
        Ok(ChildSetup {
            netns,
            mounts,
            working_dir: launch.working_dir.as_deref().map(c).transpose()?,
            cgroup_procs: launch.cgroup_procs.as_deref().map(c).transpose()?,
            user: launch.user.as_ref().map(|u| (u.uid, u.gid, u.groups.clone())),
            read_only_root: launch.read_only_root,
        })
    }

    fn apply(&self) -> io::Result<()> {
        let check = |rc: libc::c_int| if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) };
        // SAFETY: plain syscalls on NUL-terminated strings owned by self.
        unsafe {
            check(libc::setsid())?;
            if let Some(fd) = self.netns {
                check(libc::setns(fd, libc::CLONE_NEWNET))?;
            }
            if let Some(procs) = &self.cgroup_procs {
                join_cgroup(procs)?;
            }
            check(libc::unshare(libc::CLONE_NEWNS))?;
            let root = c"/";
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for (source, target, read_only) in &self.mounts {
                let bind = libc::MS_BIND | libc::MS_REC;
                check(libc::mount(source.as_ptr(), target.as_ptr(), std::ptr::null(), bind, std::ptr::null()))?;
                if *read_only {
                    let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                    check(libc::mount(std::ptr::null(), target.as_ptr(), std::ptr::null(), flags, std::ptr::null()))?;
                }
            }
            if self.read_only_root {
                let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                check(libc::mount(std::ptr::null(), root.as_ptr(), std::ptr::null(), flags, std::ptr::null()))?;
            }
            if let Some(dir) = &self.working_dir {
                check(libc::chdir(dir.as_ptr()))?;
            }
            // last: mounting needs root
            if let Some((uid, gid, groups)) = &self.user {
                check(libc::setgroups(groups.len(), groups.as_ptr()))?;
                check(libc::setgid(*gid))?;
                check(libc::setuid(*uid))?;
            }
            // after the credentials change (which clears it): the process dies with the runner, even a killed one
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0))?;
        }
        Ok(())
    }
}

/// Writes the calling process's pid to a cgroup's `cgroup.procs`, without allocating.
///
/// # Safety
/// Only libc calls on the given C string and a stack buffer.
unsafe fn join_cgroup(procs: &CString) -> io::Result<()> {
    let mut digits = [0u8; 20];
    let mut pid = libc::getpid() as u64;
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            break;
        }
    }
    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = digits.len() - start;
    let written = libc::write(fd, digits[start..].as_ptr().cast(), len);
    libc::close(fd);
    if written < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn bind(source: &str, target: &str) -> BindMount {
        BindMount { source: source.into(), target: target.into(), read_only: false }
    }

    #[test]
    fn nested_mount_points_are_made_inside_the_covering_volume() {
        let mounts = [bind("/w/data", "/data"), bind("/w/other", "/opt/x"), bind("/w/sub", "/data/sub/dir")];
        assert_eq!(host_path(&mounts[..0], &mounts[0].target), Path::new("/data"));
        assert_eq!(host_path(&mounts[..1], &mounts[1].target), Path::new("/opt/x"));
        assert_eq!(host_path(&mounts[..2], &mounts[2].target), Path::new("/w/data/sub/dir"));
        assert_eq!(host_path(&mounts, Path::new("/data/sub/dir/work")), Path::new("/w/sub/work"));
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(9)), (137, Some(9)));
        assert_eq!(exit_code(std::process::ExitStatus::from_raw(3 << 8)), (3, None));
    }
}
