//! The Node object: registration (server-side apply), Lease heartbeats in `kube-node-lease`, periodic
//! status updates, and NotReady on the way out. It must not know about pods.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec as NodeObjectSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Client};
use microfleet_common::shutdown::Shutdown;

/// A taint from `KEY=VALUE:EFFECT` (or `KEY:EFFECT`), as `kubectl taint` writes it.
pub fn parse_taint(text: &str) -> Result<Taint, String> {
    let (pair, effect) = text.rsplit_once(':').ok_or_else(|| format!("{text:?}: expected KEY=VALUE:EFFECT"))?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!("{text:?}: the effect must be NoSchedule, PreferNoSchedule or NoExecute"));
    }
    let (key, value) = match pair.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (pair, None),
    };
    if key.is_empty() {
        return Err(format!("{text:?}: the key is empty"));
    }
    Ok(Taint { key: key.into(), value, effect: effect.into(), time_added: None })
}

/// The field manager of everything the runner applies.
pub const FIELD_MANAGER: &str = "microfleet-pod-runner";
/// The namespace of node Leases.
const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Lease renewal period.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Status updates happen every this many renewals.
const STATUS_EVERY_RENEWALS: u32 = 3;

/// Identity and capacity of the node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// Its InternalIP.
    pub ip: String,
    /// Capacity = allocatable: cpu, memory, pods.
    pub capacity: BTreeMap<String, String>,
    /// Its taints (e.g. keeping other pods off a node with the pod network).
    pub taints: Vec<Taint>,
}

impl NodeSpec {
    /// The node's desired object (metadata and labels).
    pub fn object(&self) -> Node {
        let labels = [
            ("kubernetes.io/hostname", self.name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", std::env::consts::ARCH),
            ("microfleet.io/pod-runner", "true"),
        ];
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(labels.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..ObjectMeta::default()
            },
            spec: (!self.taints.is_empty())
                .then(|| NodeObjectSpec { taints: Some(self.taints.clone()), ..NodeObjectSpec::default() }),
            ..Node::default()
        }
    }

    /// The node's status: capacity, addresses, info and the Ready condition (`ready` or not, `since` then),
    /// heartbeats stamped `now`.
    pub fn status(&self, ready: bool, since: Timestamp, now: Timestamp) -> Node {
        let quantities: BTreeMap<String, Quantity> =
            self.capacity.iter().map(|(k, v)| (k.clone(), Quantity(v.clone()))).collect();
        let condition = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
            type_: type_.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_heartbeat_time: Some(Time(now)),
            last_transition_time: Some(Time(since)),
        };
        let ready_condition = if ready {
            condition("Ready", "True", "KubeletReady", "microfleet-pod-runner is posting ready status")
        } else {
            condition("Ready", "False", "KubeletNotReady", "microfleet-pod-runner is stopping")
        };
        Node {
            metadata: ObjectMeta { name: Some(self.name.clone()), ..ObjectMeta::default() },
            status: Some(NodeStatus {
                capacity: Some(quantities.clone()),
                allocatable: Some(quantities),
                conditions: Some(vec![
                    ready_condition,
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "no memory pressure"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "no PID pressure"),
                ]),
                addresses: Some(vec![
                    NodeAddress { type_: "InternalIP".into(), address: self.ip.clone() },
                    NodeAddress { type_: "Hostname".into(), address: self.name.clone() },
                ]),
                node_info: Some(NodeSystemInfo {
                    architecture: std::env::consts::ARCH.into(),
                    operating_system: "linux".into(),
                    os_image: "microfleet local processes".into(),
                    kernel_version: kernel_version(),
                    container_runtime_version: "microfleet://0.1.0".into(),
                    kubelet_version: "v0.1.0-microfleet".into(),
                    kube_proxy_version: String::new(),
                    machine_id: String::new(),
                    system_uuid: String::new(),
                    boot_id: String::new(),
                    ..NodeSystemInfo::default()
                }),
                ..NodeStatus::default()
            }),
            ..Node::default()
        }
    }
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Registers the node (object, then Ready status since `since`) and renews its Lease once.
pub async fn register(client: &Client, spec: &NodeSpec, since: Timestamp) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let node = nodes.patch(&spec.name, &params, &Patch::Apply(with_type(&spec.object())?)).await?;
    let status = with_type(&spec.status(true, since, Timestamp::now()))?;
    nodes.patch_status(&spec.name, &params, &Patch::Apply(status)).await?;
    renew_lease(client, spec, node.metadata.uid.as_deref()).await
}

/// Renews the Lease every 10 s and posts the status (Ready since `since`) every 30 s, until shutdown.
pub async fn heartbeat(client: Client, spec: NodeSpec, since: Timestamp, shutdown: Shutdown) {
    let nodes: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let stop = shutdown.requested();
    tokio::pin!(stop);
    let mut beats: u32 = 0;
    loop {
        tokio::select! {
            () = tokio::time::sleep(RENEW_EVERY) => {}
            () = &mut stop => return,
        }
        beats += 1;
        let uid = match nodes.get_opt(&spec.name).await {
            Ok(Some(node)) => node.metadata.uid,
            Ok(None) => {
                tracing::warn!(node = %spec.name, "the node object is gone; registering again");
                if let Err(error) = register(&client, &spec, since).await {
                    tracing::warn!(%error, "cannot register the node");
                }
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the node");
                continue;
            }
        };
        if let Err(error) = renew_lease(&client, &spec, uid.as_deref()).await {
            tracing::warn!(%error, "cannot renew the node lease");
        }
        if beats.is_multiple_of(STATUS_EVERY_RENEWALS) {
            let status = with_type(&spec.status(true, since, Timestamp::now()));
            let result = match status {
                Ok(status) => nodes.patch_status(&spec.name, &params, &Patch::Apply(status)).await.map(|_| ()),
                Err(error) => Err(error),
            };
            if let Err(error) = result {
                tracing::warn!(%error, "cannot update the node status");
            }
        }
    }
}

/// Marks the node NotReady (on shutdown).
pub async fn mark_not_ready(client: &Client, spec: &NodeSpec) -> Result<(), kube::Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let now = Timestamp::now();
    nodes.patch_status(&spec.name, &params, &Patch::Apply(with_type(&spec.status(false, now, now))?)).await?;
    Ok(())
}

async fn renew_lease(client: &Client, spec: &NodeSpec, node_uid: Option<&str>) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(spec.name.clone()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: spec.name.clone(),
                    uid: uid.into(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(spec.name.clone()),
            lease_duration_seconds: Some(40),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..LeaseSpec::default()
        }),
    };
    let params = PatchParams::apply(FIELD_MANAGER).force();
    leases.patch(&spec.name, &params, &Patch::Apply(with_type(&lease)?)).await?;
    Ok(())
}

/// An object as an apply body: serialised with its apiVersion and kind.
fn with_type<K: kube::Resource<DynamicType = ()> + serde::Serialize>(
    object: &K,
) -> Result<serde_json::Value, kube::Error> {
    let mut value = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_has_capacity_addresses_and_ready() {
        let spec = NodeSpec {
            name: "n1".into(),
            ip: "127.0.0.1".into(),
            capacity: [("cpu".to_string(), "2".to_string()), ("pods".to_string(), "110".to_string())].into(),
            taints: vec![],
        };
        let value = with_type(&spec.status(true, Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH)).unwrap();
        assert_eq!(value["kind"], "Node");
        assert_eq!(value["status"]["allocatable"]["pods"], "110");
        assert_eq!(value["status"]["conditions"][0]["type"], "Ready");
        assert_eq!(value["status"]["conditions"][0]["status"], "True");
        assert_eq!(value["status"]["addresses"][0]["address"], "127.0.0.1");
        let not_ready = with_type(&spec.status(false, Timestamp::UNIX_EPOCH, Timestamp::UNIX_EPOCH)).unwrap();
        assert_eq!(not_ready["status"]["conditions"][0]["status"], "False");
        assert_eq!(with_type(&spec.object()).unwrap()["metadata"]["labels"]["kubernetes.io/hostname"], "n1");
    }

    #[test]
    fn taints_parse_like_kubectl_taint_and_go_into_the_spec() {
        let taint = parse_taint("microfleet.io/pod-network=true:NoSchedule").unwrap();
        assert_eq!(
            (taint.key.as_str(), taint.value.as_deref(), taint.effect.as_str()),
            ("microfleet.io/pod-network", Some("true"), "NoSchedule")
        );
        assert_eq!(parse_taint("dedicated:NoExecute").unwrap().value, None);
        assert!(
            parse_taint("a=b").is_err() && parse_taint("a=b:Never").is_err() && parse_taint("=b:NoSchedule").is_err()
        );
        let spec =
            NodeSpec { name: "n1".into(), ip: "127.0.0.1".into(), capacity: BTreeMap::new(), taints: vec![taint] };
        let object = with_type(&spec.object()).unwrap();
        assert_eq!(object["spec"]["taints"][0]["effect"], "NoSchedule");
        let untainted = NodeSpec { taints: vec![], ..spec };
        assert!(with_type(&untainted.object()).unwrap().get("spec").is_none());
    }
}
