//! One pod's life on the node: starts a task per container, writes the pod status (pods/status) whenever a
//! container changes, enforces `activeDeadlineSeconds`, and on deletion stops the containers within the
//! grace period and makes the kubelet's final delete. Container mechanics are `container.rs`'s.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::Api;
use microfleet_common::shutdown::Shutdown;
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use crate::container;
use crate::network::Attachment;
use crate::runtime::Runtime;
use crate::status::{self, ContainerRecord, PodFacts, PodFailure};

/// The longest a container gets to stop when the runner shuts down (scripts stop the runner within 20 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The latest view of a pod the runner's watch has: the object, or `gone` once it left the API.
#[derive(Debug, Clone)]
pub struct PodView {
    /// The pod as last seen.
    pub pod: Pod,
    /// The pod was removed from the API (force-deleted, or deleted while the watch was down).
    pub gone: bool,
}

/// What a pod's container tasks share with the pod task.
pub struct PodShared {
    /// The pod as it was when the runner accepted it (its spec is immutable).
    pub pod: Pod,
    /// `namespace/name`, for logs.
    pub key: String,
    /// `name_namespace(uid)`, as the kubelet names a pod in messages.
    pub kubelet_name: String,
    /// The pod's directory in the work dir.
    pub dir: PathBuf,
    /// Init containers then containers, in spec order (records are indexed the same way).
    pub containers: Vec<Container>,
    /// How many of `containers` are init containers.
    pub init_count: usize,
    /// The pod's restart policy.
    pub restart_policy: String,
    /// Its place on the pod network (`None`: the host network).
    pub network: Option<Attachment>,
    records: Mutex<Vec<ContainerRecord>>,
    changed: Notify,
}

impl PodShared {
    fn new(pod: Pod, dir: PathBuf) -> PodShared {
        let meta = &pod.metadata;
        let (namespace, name) = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
        let kubelet_name = format!("{name}_{namespace}({})", meta.uid.as_deref().unwrap_or(""));
        let inits: Vec<Container> = pod.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).cloned().collect();
        let init_count = inits.len();
        let containers: Vec<Container> =
            inits.into_iter().chain(pod.spec.iter().flat_map(|s| s.containers.clone())).collect();
        let records = containers
            .iter()
            .enumerate()
            .map(|(index, c)| {
                let mut record = ContainerRecord::new(&c.name, c.image.as_deref().unwrap_or(""));
                if index >= init_count && init_count > 0 {
                    record.state = status::waiting("PodInitializing", None);
                }
                record
            })
            .collect();
        let restart_policy =
            pod.spec.as_ref().and_then(|s| s.restart_policy.clone()).unwrap_or_else(|| "Always".into());
        PodShared {
            key: format!("{namespace}/{name}"),
            kubelet_name,
            dir,
            containers,
            init_count,
            restart_policy,
            network: None,
            records: Mutex::new(records),
            changed: Notify::new(),
            pod,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<ContainerRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes container `index`'s record and wakes the status writer.
    pub fn update(&self, index: usize, change: impl FnOnce(&mut ContainerRecord)) {
        if let Some(record) = self.lock().get_mut(index) {
            change(record);
        }
        self.changed.notify_one();
    }

    /// The restart policy of container `index` (init containers only restart on failure).
    pub fn restart_policy(&self, index: usize) -> &str {
        if index < self.init_count {
            status::init_restart_policy(&self.restart_policy)
        } else {
            &self.restart_policy
        }
    }

    /// The pod's IP: its own on the pod network, else the node's.
    pub fn ip(&self, node_ip: &str) -> String {
        self.network.as_ref().map_or_else(|| node_ip.to_string(), |a| a.ip.to_string())
    }

    /// A copy of container `index`'s record.
    pub fn record(&self, index: usize) -> ContainerRecord {
        let records = self.lock();
        records.get(index).cloned().unwrap_or_else(|| ContainerRecord::new("", ""))
    }
}

/// Why the pod task stopped its containers.
enum Stop {
    /// Every container finished under its restart policy.
    Finished,
    /// `activeDeadlineSeconds` passed.
    Deadline,
    /// The pod got a deletion timestamp; stop within this grace period.
    Deleted(Duration),
    /// The pod left the API.
    Gone,
    /// The runner is shutting down.
    Shutdown,
}

/// Runs a pod bound to this node until it is deleted (or the runner shuts down).
pub async fn run(rt: Arc<Runtime>, mut updates: watch::Receiver<PodView>, shutdown: Shutdown) {
    let pod = updates.borrow().pod.clone();
    let api: Api<Pod> = Api::namespaced(rt.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    if matches!(phase.as_str(), "Succeeded" | "Failed") || pod.metadata.deletion_timestamp.is_some() {
        // nothing runs: a finished pod (e.g. from before a restart of the runner) only waits for its deletion
        if await_deletion(&api, updates, shutdown).await {
            remove_volumes(&rt.pod_dir(&pod));
        }
        return;
    }
    let mut shared = PodShared::new(pod.clone(), rt.pod_dir(&pod));
    tracing::info!(pod = %shared.key, "starting pod");
    let start_time = pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or_else(Timestamp::now, |t| t.0);
    if let Some(network) = &rt.network {
        let (uid, namespace) = (pod.metadata.uid.as_deref().unwrap_or(""), pod.metadata.namespace.as_deref());
        match network.attach(uid, namespace.unwrap_or("default"), &shared.dir).await {
            Ok(attachment) => {
                tracing::info!(pod = %shared.key, ip = %attachment.ip, netns = %attachment.netns, "pod attached to the pod network");
                shared.network = Some(attachment);
            }
            Err(error) => {
                tracing::warn!(pod = %shared.key, %error, "cannot attach the pod to the pod network");
                for index in 0..shared.containers.len() {
                    shared.update(index, |r| r.state = status::waiting("ContainerCreating", Some(error.to_string())));
                }
                let mut writer = StatusWriter::new(api.clone(), &pod, start_time, rt.node.ip.clone(), None);
                writer.write(&shared, &pod).await;
                if await_deletion(&api, updates, shutdown).await {
                    remove_volumes(&shared.dir);
                }
                return;
            }
        }
    }
    let shared = Arc::new(shared);
    let pod_ip = shared.network.as_ref().map(|a| a.ip.to_string());
    let mut writer = StatusWriter::new(api.clone(), &pod, start_time, rt.node.ip.clone(), pod_ip);
    let (stop_tx, stop_rx) = watch::channel(None);
    let mut tasks = JoinSet::new();
    tasks.spawn(run_containers(rt.clone(), shared.clone(), stop_rx));
    writer.write(&shared, &pod).await;

    let deadline = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds).map(|seconds| {
        let elapsed = Timestamp::now().duration_since(start_time).unsigned_abs();
        tokio::time::Instant::now() + Duration::from_secs(seconds.max(0) as u64).saturating_sub(elapsed)
    });
    let grace = Duration::from_secs(
        pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).max(0) as u64,
    );
    let shutdown_requested = shutdown.clone().requested();
    tokio::pin!(shutdown_requested);
    let mut retry = tokio::time::interval(Duration::from_secs(5));
    let stop = loop {
        tokio::select! {
            () = shared.changed.notified() => writer.write(&shared, &latest(&updates)).await,
            changed = updates.changed() => {
                let view = updates.borrow_and_update().clone();
                if changed.is_err() || view.gone {
                    break Stop::Gone;
                }
                if view.pod.metadata.deletion_timestamp.is_some() {
                    let seconds = view.pod.metadata.deletion_grace_period_seconds.unwrap_or(0).max(0) as u64;
                    break Stop::Deleted(Duration::from_secs(seconds));
                }
            }
            () = async { match deadline { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                break Stop::Deadline;
            }
            () = &mut shutdown_requested => break Stop::Shutdown,
            _ = tasks.join_next(), if !tasks.is_empty() => {
                if tasks.is_empty() {
                    break Stop::Finished;
                }
            }
            _ = retry.tick() => if writer.failed { writer.write(&shared, &latest(&updates)).await },
        }
    };

    let grace = match stop {
        Stop::Deleted(deletion_grace) => deletion_grace,
        Stop::Shutdown => grace.min(SHUTDOWN_GRACE),
        _ => grace,
    };
    let _ = stop_tx.send(Some(grace));
    while tasks.join_next().await.is_some() {}
    if let (Some(network), Some(attachment)) = (&rt.network, &shared.network) {
        network.detach(attachment).await;
    }
    match stop {
        Stop::Shutdown => tracing::info!(pod = %shared.key, "pod stopped"),
        Stop::Gone => {
            tracing::info!(pod = %shared.key, "pod stopped");
            remove_volumes(&shared.dir);
        }
        Stop::Deleted(_) => {
            let pod = latest(&updates);
            writer.write(&shared, &pod).await;
            final_delete(&api, &pod).await;
            remove_volumes(&shared.dir);
        }
        Stop::Finished | Stop::Deadline => {
            if matches!(stop, Stop::Deadline) {
                tracing::info!(pod = %shared.key, "active deadline exceeded");
                writer.failure = Some(PodFailure {
                    reason: "DeadlineExceeded".into(),
                    message: "Pod was active on the node longer than the specified deadline".into(),
                });
            }
            writer.write(&shared, &latest(&updates)).await;
            while writer.failed {
                tokio::time::sleep(Duration::from_secs(2)).await;
                writer.write(&shared, &latest(&updates)).await;
            }
            tracing::info!(pod = %shared.key, "pod finished");
            if await_deletion(&api, updates, shutdown).await {
                remove_volumes(&shared.dir);
            }
        }
    }
}

/// Runs the init containers one after the other, each to success, then the containers side by side.
async fn run_containers(rt: Arc<Runtime>, shared: Arc<PodShared>, stop: container::StopSignal) {
    for index in 0..shared.init_count {
        container::run(rt.clone(), shared.clone(), index, stop.clone()).await;
        if !status::initialized(std::slice::from_ref(&shared.record(index))) {
            // failed for good, or stopped
            return;
        }
    }
    let mut containers = JoinSet::new();
    for index in shared.init_count..shared.containers.len() {
        containers.spawn(container::run(rt.clone(), shared.clone(), index, stop.clone()));
    }
    while containers.join_next().await.is_some() {}
}

/// The pod as last seen (cloned, so no borrow of the channel is held across an await).
fn latest(updates: &watch::Receiver<PodView>) -> Pod {
    updates.borrow().pod.clone()
}

/// Waits until the pod is being deleted, then deletes it for good (nothing runs any more). `true` once the
/// pod is gone, `false` on shutdown.
async fn await_deletion(api: &Api<Pod>, mut updates: watch::Receiver<PodView>, shutdown: Shutdown) -> bool {
    let deleting = updates.wait_for(|view| view.gone || view.pod.metadata.deletion_timestamp.is_some());
    let latest = tokio::select! {
        view = deleting => match view {
            Ok(view) if !view.gone => view.pod.clone(),
            _ => return true,
        },
        () = shutdown.requested() => return false,
    };
    final_delete(api, &latest).await;
    true
}

/// Removes the pod's volumes (Secrets and tokens do not stay on disk); logs stay for debugging.
fn remove_volumes(pod_dir: &std::path::Path) {
    let volumes = pod_dir.join("volumes");
    if let Err(error) = std::fs::remove_dir_all(&volumes) {
        if error.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %volumes.display(), %error, "cannot remove the pod's volumes");
        }
    }
}

/// The kubelet's last word: delete with grace period 0, for this very pod (uid precondition).
async fn final_delete(api: &Api<Pod>, pod: &Pod) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => tracing::info!(pod = %name, "pod deleted"),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
        Err(error) => tracing::warn!(pod = %name, %error, "final delete failed"),
    }
}

/// Writes the derived status when it changed.
struct StatusWriter {
    api: Api<Pod>,
    name: String,
    start_time: Timestamp,
    host_ip: String,
    pod_ip: Option<String>,
    failure: Option<PodFailure>,
    last: Option<Value>,
    failed: bool,
}

impl StatusWriter {
    fn new(api: Api<Pod>, pod: &Pod, start_time: Timestamp, host_ip: String, pod_ip: Option<String>) -> StatusWriter {
        StatusWriter {
            api,
            name: pod.metadata.name.clone().unwrap_or_default(),
            start_time,
            host_ip,
            pod_ip,
            failure: None,
            last: None,
            failed: false,
        }
    }

    async fn write(&mut self, shared: &PodShared, current: &Pod) {
        let records = shared.lock().clone();
        let previous = current.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
        let (init_records, records) = records.split_at(shared.init_count.min(records.len()));
        let facts = PodFacts {
            restart_policy: &shared.restart_policy,
            init_records,
            records,
            failure: self.failure.as_ref(),
            start_time: self.start_time,
            host_ip: &self.host_ip,
            pod_ip: self.pod_ip.as_deref().unwrap_or(&self.host_ip),
            previous: &previous,
            now: Timestamp::now(),
        };
        let patch = status::status_patch(&facts);
        let fingerprint = without_transition_times(&patch);
        if self.last.as_ref() == Some(&fingerprint) && !self.failed {
            return;
        }
        match self.api.patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                self.last = Some(fingerprint);
                self.failed = false;
            }
            Err(kube::Error::Api(status)) if status.code == 404 => self.failed = false,
            Err(error) => {
                tracing::warn!(pod = %shared.key, %error, "cannot write the pod status; retrying");
                self.failed = true;
            }
        }
    }
}

fn without_transition_times(patch: &Value) -> Value {
    let mut copy = patch.clone();
    if let Some(conditions) = copy.pointer_mut("/status/conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(object) = condition.as_object_mut() {
                object.remove("lastTransitionTime");
            }
        }
    }
    copy
}
