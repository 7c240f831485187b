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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Lifecycle, LifecycleHandler, SleepAction};

    fn http() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    fn target() -> Target {
        let launch = crate::process::Launch {
            program: "/bin/true".into(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
            mounts: Vec::new(),
            log_file: "/dev/null".into(),
            cgroup_procs: None,
            user: None,
            read_only_root: false,
            netns: None,
        };
        Target { ip: "127.0.0.1".into(), ports: Vec::new(), launch }
    }

    fn sleeping(seconds: i64) -> Container {
        let handler = LifecycleHandler { sleep: Some(SleepAction { seconds }), ..Default::default() };
        Container {
            name: "c".into(),
            lifecycle: Some(Lifecycle { pre_stop: Some(handler), ..Default::default() }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_sleep_hook_runs_first_and_shortens_the_grace_period() {
        let http = http();
        let grace = Duration::from_secs(30);
        let started = Instant::now();
        let left = pre_stop(&sleeping(1), &target(), &http, grace).await;
        assert!(started.elapsed() >= Duration::from_secs(1), "the hook's sleep came first");
        assert!(
            left <= Duration::from_secs(29) && left > Duration::from_secs(20),
            "the hook's time is taken: {left:?}"
        );
        // a hook longer than the grace period is cut short, and SIGTERM still gets its 2 s
        let (started, short) = (Instant::now(), Duration::from_secs(1));
        assert_eq!(pre_stop(&sleeping(60), &target(), &http, short).await, MIN_GRACE_AFTER_HOOK);
        assert!(started.elapsed() >= short && started.elapsed() < Duration::from_secs(20));
        let plain = Container { name: "c".into(), ..Default::default() };
        assert_eq!(pre_stop(&plain, &target(), &http, grace).await, grace, "no hook, the whole grace period");
    }

    #[tokio::test]
    async fn an_exec_hook_runs_its_command() {
        let dir = std::env::temp_dir().join(format!("pod-runner-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("ran");
        let command = vec!["/bin/sh".to_string(), "-c".into(), format!("touch {}", marker.display())];
        let handler = LifecycleHandler {
            exec: Some(k8s_openapi::api::core::v1::ExecAction { command: Some(command) }),
            ..Default::default()
        };
        let container = Container {
            name: "c".into(),
            lifecycle: Some(Lifecycle { pre_stop: Some(handler), ..Default::default() }),
            ..Default::default()
        };
        pre_stop(&container, &target(), &http(), Duration::from_secs(10)).await;
        assert!(marker.exists(), "the hook's command ran");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
