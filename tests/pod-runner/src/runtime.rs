//! What every pod task shares: the API client, the node's image map and facts, the work dir and the
//! memory-limit mechanism, the pod network. Plain data; no behaviour beyond path helpers.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use crate::downward::NodeFacts;
use crate::env::ApiEndpoint;
use crate::images::ImageMap;
use crate::memory::Mechanism;
use crate::network::PodNetwork;

/// The node-wide context of the runner.
pub struct Runtime {
    /// The API client (the admin kubeconfig).
    pub client: Client,
    /// Image repositories → binaries.
    pub images: ImageMap,
    /// Per-pod directories live under `<work_dir>/pods`.
    pub work_dir: PathBuf,
    /// Node name, IP and allocatable resources.
    pub node: NodeFacts,
    /// Where pods reach the API server.
    pub api: ApiEndpoint,
    /// The cluster CA for service-account volumes.
    pub ca_file: Option<PathBuf>,
    /// How memory limits are enforced.
    pub memory: Mechanism,
    /// The HTTP client of probes.
    pub http: reqwest::Client,
    /// The `PATH` every container gets.
    pub path_env: String,
    /// The pod network; `None`: pods share the host network.
    pub network: Option<PodNetwork>,
    /// Where pods on the pod network reach the API server: the `kubernetes` Service (its ClusterIP is
    /// DNATed to the API server by `services.rs`); `None`: as `api`.
    pub pod_api: Option<ApiEndpoint>,
}

impl Runtime {
    /// The directory of one pod: `<work_dir>/pods/<namespace>_<name>_<uid>`.
    pub fn pod_dir(&self, pod: &Pod) -> PathBuf {
        let meta = &pod.metadata;
        let part = |value: &Option<String>| value.clone().unwrap_or_default();
        self.work_dir.join("pods").join(format!("{}_{}_{}", part(&meta.namespace), part(&meta.name), part(&meta.uid)))
    }
}

/// The directory of one container inside its pod's directory (logs, termination-message file).
pub fn container_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join("containers").join(container)
}
