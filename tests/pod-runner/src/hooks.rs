//! The `preStop` lifecycle hook, run as the kubelet runs it: before a running container is sent SIGTERM
//! (its pod deleted or stopped, or a probe restarting it), within the grace period, which the hook's time
//! then shortens. `sleep`, `exec` and `httpGet` handlers. The stop sequence itself is `container.rs`'s.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::time::Instant;

use crate::probes::{Prober, Target};

/// The least a container gets between SIGTERM and SIGKILL after a hook that used up the grace period (the
/// kubelet's one-off 2 s extension).
const MIN_GRACE_AFTER_HOOK: Duration = Duration::from_secs(2);

/// Runs the container's `preStop` handler, if any, for at most `grace`; returns the grace period left for
/// SIGTERM. A failed handler is logged and the stop goes on, as with the kubelet.
pub async fn pre_stop(container: &Container, target: &Target, http: &reqwest::Client, grace: Duration) -> Duration {
    let Some(handler) = container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else { return grace };
    let started = Instant::now();
    let run = async {
        if let Some(sleep) = &handler.sleep {
            tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0).unsigned_abs())).await;
            return true;
        }
        // exec and httpGet run like the probes of the same kind, with the grace period as their timeout
        let probe = Probe {
            exec: handler.exec.clone(),
            http_get: handler.http_get.clone(),
            tcp_socket: handler.tcp_socket.clone(),
            timeout_seconds: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX).max(1)),
            ..Default::default()
        };
        Prober::new(&probe, target, http).check().await
    };
    match tokio::time::timeout(grace, run).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(container = %container.name, "preStop hook failed; stopping the container anyway"),
        Err(_) => tracing::warn!(container = %container.name, ?grace, "preStop hook outlasted the grace period"),
    }
    grace.saturating_sub(started.elapsed()).max(MIN_GRACE_AFTER_HOOK)
}
