//! Container probes (httpGet, tcpSocket, exec) with the kubelet's timing and thresholds. Owns one probe's loop and
//! its verdicts; what a verdict does (ready flag, restart) is the container's business.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerPort, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpStream;

use crate::process::{self, Launch};

/// Where a container's probes connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pod's IP.
    pub ip: String,
    /// The container's ports (named ports are looked up here).
    pub ports: Vec<ContainerPort>,
    /// How the container was started: exec probes run their command with its environment and mounts.
    pub launch: Launch,
}

/// One probe of one container.
pub struct Prober<'a> {
    probe: &'a Probe,
    target: &'a Target,
    http: &'a reqwest::Client,
}

impl<'a> Prober<'a> {
    /// A prober; `http` is the node's shared client.
    pub fn new(probe: &'a Probe, target: &'a Target, http: &'a reqwest::Client) -> Prober<'a> {
        if probe.grpc.is_some() {
            tracing::warn!("grpc probes are not supported by microfleet-pod-runner; they always pass");
        }
        Prober { probe, target, http }
    }

    /// Probes every period after the initial delay. Each time a streak of successes reaches the success
    /// threshold, or one of failures the failure threshold, `on_verdict` gets it; this returns the verdict
    /// for which `on_verdict` answered `false` (stop).
    pub async fn watch(&self, mut on_verdict: impl FnMut(bool) -> bool) -> bool {
        let seconds = |value: Option<i32>, default: i32| Duration::from_secs(value.unwrap_or(default).max(0) as u64);
        let period = seconds(self.probe.period_seconds, 10).max(Duration::from_secs(1));
        let success_threshold = self.probe.success_threshold.unwrap_or(1).max(1);
        let failure_threshold = self.probe.failure_threshold.unwrap_or(3).max(1);
        tokio::time::sleep(seconds(self.probe.initial_delay_seconds, 0)).await;
        let (mut successes, mut failures) = (0, 0);
        loop {
            let verdict = if self.check().await {
                failures = 0;
                successes += 1;
                (successes == success_threshold).then_some(true)
            } else {
                successes = 0;
                failures += 1;
                (failures == failure_threshold).then_some(false)
            };
            if let Some(verdict) = verdict {
                if !on_verdict(verdict) {
                    return verdict;
                }
            }
            tokio::time::sleep(period).await;
        }
    }

    /// One attempt (also how `hooks` runs an exec or httpGet handler).
    pub(crate) async fn check(&self) -> bool {
        let timeout = Duration::from_secs(self.probe.timeout_seconds.unwrap_or(1).max(1) as u64);
        if let Some(get) = &self.probe.http_get {
            let Some(port) = self.port(&get.port) else { return false };
            let host = get.host.clone().unwrap_or_else(|| self.target.ip.clone());
            let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
            let path = get.path.as_deref().unwrap_or("/");
            let path = if path.starts_with('/') { path.to_string() } else { format!("/{path}") };
            let mut request = self.http.get(format!("{scheme}://{host}:{port}{path}")).timeout(timeout);
            for header in get.http_headers.iter().flatten() {
                request = request.header(&header.name, &header.value);
            }
            return match request.send().await {
                Ok(response) => (200..400).contains(&response.status().as_u16()),
                Err(_) => false,
            };
        }
        if let Some(tcp) = &self.probe.tcp_socket {
            let Some(port) = self.port(&tcp.port) else { return false };
            let host = tcp.host.clone().unwrap_or_else(|| self.target.ip.clone());
            return matches!(tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await, Ok(Ok(_)));
        }
        if let Some(exec) = &self.probe.exec {
            return self.exec(exec.command.as_deref().unwrap_or_default(), timeout).await;
        }
        true
    }

    /// Runs the command (looked up on the container's PATH) like the container: same environment, same
    /// mounts; passes on exit code 0 within the timeout.
    async fn exec(&self, command: &[String], timeout: Duration) -> bool {
        let Some((program, args)) = command.split_first() else { return false };
        let launch = Launch {
            program: program.into(),
            args: args.to_vec(),
            log_file: "/dev/null".into(),
            cgroup_procs: None,
            ..self.target.launch.clone()
        };
        let Ok(mut child) = process::spawn(&launch) else { return false };
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                if let Some(pid) = child.id() {
                    process::signal_group(pid, libc::SIGKILL);
                }
                let _ = child.wait().await;
                false
            }
        }
    }

    fn port(&self, port: &IntOrString) -> Option<u16> {
        match port {
            IntOrString::Int(number) => u16::try_from(*number).ok(),
            IntOrString::String(name) => self
                .target
                .ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .and_then(|p| u16::try_from(p.container_port).ok()),
        }
    }
}
