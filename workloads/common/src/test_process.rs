//! For tests only: stopping a service binary the way Kubernetes does (SIGTERM), waiting for it to exit, and
//! reading its JSON log lines; and [`KillOnDrop`], so that a test failing mid-way leaves no service running.
//! Panics when the signal cannot be sent, the process outlives the grace or fails, or a log line is not JSON;
//! owns no other process handling.

use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// A service's process, killed (SIGKILL) and reaped when dropped still running: by a test's failed assertion
/// before it stopped the process itself. Dereferences to the [`Child`].
pub struct KillOnDrop(pub Child);

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends SIGTERM to `child` and waits up to 10 s for it to exit; its exit status.
async fn stop_with_sigterm(child: &mut Child) -> ExitStatus {
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(kill.is_ok_and(|status| status.success()), "kill -TERM {} failed", child.id());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap_or(None) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the process {} did not stop within 10 s of SIGTERM", child.id());
}

/// Stops `child` ([`stop_with_sigterm`]), asserts it exited successfully and that every line it wrote to its
/// (piped) stdout is a JSON object; those lines.
pub async fn stop_and_read_json_logs(child: &mut Child) -> String {
    let status = stop_with_sigterm(child).await;
    assert!(status.success(), "the process exited with {status} after SIGTERM");
    let mut logs = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let read = stdout.read_to_string(&mut logs);
        assert!(read.is_ok(), "cannot read the process's stdout: {read:?}");
    }
    let bad = logs.lines().find(|line| serde_json::from_str::<serde_json::Value>(line).is_err());
    assert!(bad.is_none(), "a log line that is not JSON: {bad:?}");
    logs
}
