//! For tests only: stopping a service binary the way Kubernetes does (SIGTERM) and waiting for it to exit.
//! Panics when the signal cannot be sent or the process outlives the grace; owns no other process handling.

use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// Sends SIGTERM to `child` and waits up to 10 s for it to exit; its exit status.
pub async fn stop_with_sigterm(child: &mut Child) -> ExitStatus {
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
