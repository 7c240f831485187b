//! One container's life on the node: image, config, volumes, start, supervision (probes, memory limit,
//! stop requests), termination message, and restarts with the kubelet's back-off. Reports every change
//! through the pod's shared records; writing the pod status is `pod.rs`'s job.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::watch;

use crate::downward::NodeFacts;
use crate::env;
use crate::hooks;
use crate::logs;
use crate::objects::Refs;
use crate::pod::PodShared;
use crate::probes::{Prober, Target};
use crate::process::{self, BindMount, Launch};
use crate::quantity;
use crate::runtime::{container_dir, Runtime};
use crate::security;
use crate::status::{self, waiting, State, Termination};
use crate::volumes::{self, VolumeContext};

/// A stop request: `Some(grace period)` once the pod's containers must stop.
pub type StopSignal = watch::Receiver<Option<Duration>>;

/// The kubelet's crash-loop back-off: the first restart at once, then 10 s doubling to 5 min; reset after
/// a run of 10 minutes.
#[derive(Debug, Default)]
struct Backoff {
    restarts: u32,
}

impl Backoff {
    fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= Duration::from_secs(600) {
            self.restarts = 0;
        }
        let delay = match self.restarts {
            0 => Duration::ZERO,
            n => Duration::from_secs((10u64 << (n - 1).min(5)).min(300)),
        };
        self.restarts += 1;
        delay
    }
}

/// Why one attempt to run the container ended.
enum Attempt {
    /// The pod asked its containers to stop.
    Stopped,
    /// The container could not be created yet (its config or volumes); tried again soon.
    NotCreated { reason: &'static str, message: String },
    /// The image is not in the node's map.
    ImageMissing { message: String },
    /// The process ran (or failed to start) and ended.
    Exited { termination: Termination, ran_for: Duration },
}

/// Runs container `index` of the pod until it is done under the restart policy or a stop is requested.
pub async fn run(rt: Arc<Runtime>, shared: Arc<PodShared>, index: usize, mut stop: StopSignal) {
    let Some(container) = shared.containers.get(index).cloned() else { return };
    let policy = shared.restart_policy(index).to_string();
    let (mut crash_backoff, mut config_retries, mut pulls) = (Backoff::default(), 0u32, 0u32);
    loop {
        if stop.borrow().is_some() {
            return;
        }
        match attempt(&rt, &shared, index, &container, &mut stop).await {
            Attempt::Stopped => return,
            Attempt::NotCreated { reason, message } => {
                config_retries += 1;
                tracing::warn!(pod = %shared.key, container = %container.name, reason, %message, "container not created");
                shared.update(index, |r| r.state = waiting(reason, Some(message)));
                let delay = Duration::from_secs(u64::from(config_retries.min(5)));
                if stopped_during(delay, &mut stop).await {
                    return;
                }
            }
            Attempt::ImageMissing { message } => {
                pulls += 1;
                tracing::warn!(pod = %shared.key, container = %container.name, %message, "image not pullable");
                shared.update(index, |r| r.state = waiting("ErrImagePull", Some(message)));
                if stopped_during(Duration::from_secs(2), &mut stop).await {
                    return;
                }
                let back_off = format!("Back-off pulling image {:?}", container.image.as_deref().unwrap_or(""));
                shared.update(index, |r| r.state = waiting("ImagePullBackOff", Some(back_off)));
                let delay = Duration::from_secs((5u64 << pulls.min(6)).min(300));
                if stopped_during(delay, &mut stop).await {
                    return;
                }
            }
            Attempt::Exited { termination, ran_for } => {
                let exit_code = termination.exit_code;
                tracing::info!(pod = %shared.key, container = %container.name, exit_code, reason = %termination.reason, "container exited");
                shared.update(index, |r| {
                    r.state = State::Terminated(termination.clone());
                    r.ready = false;
                    r.started = false;
                });
                if stop.borrow().is_some() || !status::restarts(&policy, exit_code) {
                    return;
                }
                let delay = crash_backoff.next(ran_for);
                let message = format!(
                    "back-off {}s restarting failed container={} pod={}",
                    delay.as_secs(),
                    container.name,
                    shared.kubelet_name
                );
                shared.update(index, |r| {
                    r.last_termination = Some(termination);
                    r.restart_count += 1;
                    if !delay.is_zero() {
                        r.state = waiting("CrashLoopBackOff", Some(message));
                    }
                });
                if stopped_during(delay, &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps for `delay`; `true` if a stop was requested meanwhile.
async fn stopped_during(delay: Duration, stop: &mut StopSignal) -> bool {
    let requested = tokio::select! {
        () = tokio::time::sleep(delay) => None,
        _ = stop.wait_for(Option::is_some) => Some(true),
    };
    requested.unwrap_or_else(|| stop.borrow().is_some())
}

async fn attempt(
    rt: &Runtime,
    shared: &PodShared,
    index: usize,
    container: &Container,
    stop: &mut StopSignal,
) -> Attempt {
    let pod = &shared.pod;
    let image = container.image.clone().unwrap_or_default();
    let Some(binary) = rt.images.binary_for(&image).filter(|b| b.is_file()).map(Path::to_path_buf) else {
        let message = match rt.images.binary_for(&image) {
            Some(binary) => format!(
                "failed to pull and unpack image {image:?}: the binary {} mapped to it does not exist",
                binary.display()
            ),
            None => format!(
                "failed to pull and unpack image {image:?}: repository {:?} not found: node {} has no --image mapping for it",
                crate::images::repository(&image),
                rt.node.node_name
            ),
        };
        return Attempt::ImageMissing { message };
    };

    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let (mut secrets, mut config_maps) = env::referenced(container);
    let (volume_secrets, volume_config_maps) = volumes::referenced(pod, container);
    secrets.extend(volume_secrets);
    config_maps.extend(volume_config_maps);
    let not_created =
        |reason, error: crate::error::ConfigError| Attempt::NotCreated { reason, message: error.to_string() };
    let refs = match Refs::fetch(&rt.client, &namespace, secrets, config_maps).await {
        Ok(refs) => refs,
        Err(error) => return not_created("CreateContainerConfigError", error),
    };
    let node = NodeFacts { pod_ip: shared.network.as_ref().map(|a| a.ip.to_string()), ..rt.node.clone() };
    let api = match (&shared.network, &rt.pod_api) {
        (Some(_), Some(pod_api)) => pod_api,
        _ => &rt.api,
    };
    let vars = match env::resolve(pod, container, &refs, &node, api, &rt.path_env) {
        Ok(vars) => vars,
        Err(error) => return not_created("CreateContainerConfigError", error),
    };
    let identity = match security::identity(pod, container, &shared.kubelet_name) {
        Ok(identity) => identity,
        Err(error) => return not_created("CreateContainerConfigError", error),
    };
    let ctx = VolumeContext { client: &rt.client, pod_dir: &shared.dir, node: &node, ca_file: rt.ca_file.as_deref() };
    let mut mounts = match volumes::prepare(&ctx, pod, container, &refs).await {
        Ok(mounts) => mounts,
        Err(error) => return not_created("ContainerCreating", error),
    };

    let dir = container_dir(&shared.dir, &container.name);
    let restart_count = shared.record(index).restart_count;
    let log_file = dir.join(format!("{restart_count}.log"));
    let message_file = dir.join("termination-log");
    // any user may write its termination message, as with the kubelet
    let prepared = fs::create_dir_all(&dir)
        .and_then(|()| fs::write(&message_file, b""))
        .and_then(|()| fs::set_permissions(&message_file, fs::Permissions::from_mode(0o666)));
    if let Err(error) = prepared {
        return not_created("ContainerCreating", crate::error::ConfigError::Volume(error.to_string()));
    }
    let message_path = container.termination_message_path.clone().unwrap_or_else(|| "/dev/termination-log".into());
    mounts.push(BindMount { source: message_file.clone(), target: message_path.into(), read_only: false });
    if let Some(network) = &shared.network {
        mounts.push(BindMount {
            source: network.resolv_conf.clone(),
            target: "/etc/resolv.conf".into(),
            read_only: true,
        });
    }

    let limit_bytes = container
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| quantity::parse(&q.0))
        .map(|bytes| bytes.ceil() as u64);
    let run_id = format!("{}-{}-{restart_count}", pod.metadata.uid.as_deref().unwrap_or("pod"), container.name);
    let limit = match limit_bytes.map(|bytes| rt.memory.limit(&run_id, bytes)).transpose() {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(pod = %shared.key, container = %container.name, %error, "cannot set the memory limit");
            None
        }
    };

    let launch = Launch {
        program: binary.clone(),
        args: env::arguments(container, &vars),
        env: vars,
        working_dir: container.working_dir.clone().map(Into::into),
        mounts,
        log_file: log_file.clone(),
        cgroup_procs: limit.as_ref().and_then(|l| l.procs_file()),
        user: identity.user,
        read_only_root: identity.read_only_root,
        netns: shared.network.as_ref().map(|a| a.netns_path()),
    };
    let started_at = Timestamp::now();
    let started = Instant::now();
    let mut child = match process::spawn(&launch) {
        Ok(child) => child,
        Err(error) => {
            tracing::warn!(pod = %shared.key, container = %container.name, %error, "cannot start the container");
            let termination = Termination {
                exit_code: 128,
                signal: None,
                reason: "StartError".into(),
                message: Some(format!("failed to start {}: {error}", binary.display())),
                started_at: None,
                finished_at: Timestamp::now(),
                container_id: None,
            };
            return Attempt::Exited { termination, ran_for: Duration::ZERO };
        }
    };
    let Some(pid) = child.id() else {
        return Attempt::Stopped;
    };
    let container_id = format!("microfleet://{pid}");
    tracing::info!(pod = %shared.key, container = %container.name, pid, binary = %binary.display(), "container started");
    let has_startup = container.startup_probe.is_some();
    let no_readiness = container.readiness_probe.is_none();
    shared.update(index, |r| {
        r.state = State::Running { started_at };
        r.container_id = Some(container_id.clone());
        r.image_id = format!("microfleet://{}", binary.display());
        r.started = !has_startup;
        r.ready = !has_startup && no_readiness;
    });

    let grace = pod_grace_period(shared);
    let target = Target { ip: shared.ip(&rt.node.ip), ports: container.ports.clone().unwrap_or_default(), launch };
    // Err((grace, hook)): stop it within the grace period, running its preStop hook first when `hook`
    let kill_for = tokio::select! {
        status = child.wait() => Ok(status),
        Ok(requested) = stop.wait_for(Option::is_some) => Err((requested.unwrap_or(grace), true)),
        () = probe(rt, shared, index, container, &target) => {
            tracing::info!(pod = %shared.key, container = %container.name, "liveness probe failed; restarting");
            Err((grace, true))
        }
        () = async { match &limit { Some(limit) => limit.enforce(pid).await, None => std::future::pending().await } } => Err((grace, false)),
    };
    let status = match kill_for {
        Ok(status) => status,
        Err((grace, hook)) => {
            let grace = if hook { hooks::pre_stop(container, &target, &rt.http, grace).await } else { grace };
            process::signal_group(pid, libc::SIGTERM);
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    process::signal_group(pid, libc::SIGKILL);
                    child.wait().await
                }
            }
        }
    };
    // nothing of the container outlives it
    process::signal_group(pid, libc::SIGKILL);
    let (exit_code, signal) = match status {
        Ok(status) => process::exit_code(status),
        Err(error) => {
            tracing::warn!(pod = %shared.key, container = %container.name, %error, "cannot wait for the container");
            (255, None)
        }
    };
    let oom = limit.as_ref().is_some_and(|l| l.oom_killed());
    drop(limit);
    let file = read_prefix(&message_file, logs::MAX_MESSAGE_BYTES);
    let log = read_suffix(&log_file, logs::FALLBACK_BYTES);
    let policy = container.termination_message_policy.as_deref();
    let reason = match (oom, exit_code) {
        (true, _) => "OOMKilled",
        (false, 0) => "Completed",
        _ => "Error",
    };
    let termination = Termination {
        exit_code: if oom { 137 } else { exit_code },
        signal,
        reason: reason.into(),
        message: logs::termination_message(&file, &log, policy, exit_code),
        started_at: Some(started_at),
        finished_at: Timestamp::now(),
        container_id: Some(container_id),
    };
    Attempt::Exited { termination, ran_for: started.elapsed() }
}

/// Resolves when the container must be restarted: its startup probe gave up, or its liveness probe
/// failed; meanwhile reports readiness.
async fn probe(rt: &Runtime, shared: &PodShared, index: usize, container: &Container, target: &Target) {
    if let Some(startup) = &container.startup_probe {
        if !Prober::new(startup, target, &rt.http).watch(|verdict| !verdict).await {
            return;
        }
        let no_readiness = container.readiness_probe.is_none();
        shared.update(index, |r| {
            r.started = true;
            r.ready = no_readiness;
        });
    }
    let readiness = async {
        if let Some(readiness) = &container.readiness_probe {
            Prober::new(readiness, target, &rt.http)
                .watch(|ready| {
                    shared.update(index, |r| r.ready = ready);
                    true
                })
                .await;
        }
        std::future::pending::<()>().await;
    };
    let liveness = async {
        match &container.liveness_probe {
            Some(liveness) => {
                Prober::new(liveness, target, &rt.http).watch(|alive| alive).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = readiness => {}
        () = liveness => {}
    }
}

fn pod_grace_period(shared: &PodShared) -> Duration {
    let seconds = shared.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
    Duration::from_secs(seconds.max(0) as u64)
}

fn read_prefix(path: &Path, max: usize) -> Vec<u8> {
    let mut bytes = fs::read(path).unwrap_or_default();
    bytes.truncate(max);
    bytes
}

fn read_suffix(path: &Path, max: usize) -> Vec<u8> {
    let bytes = fs::read(path).unwrap_or_default();
    bytes[bytes.len().saturating_sub(max)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_is_immediate_then_doubles_from_ten_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let short = Duration::from_secs(1);
        let delays: Vec<u64> = (0..8).map(|_| backoff.next(short).as_secs()).collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff.next(Duration::from_secs(600)), Duration::ZERO);
    }
}
