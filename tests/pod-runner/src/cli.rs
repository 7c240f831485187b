//! The runner's command line, and turning it into the node's runtime context. It must not talk to the API.

use std::path::PathBuf;

use clap::Parser;

use crate::images;

/// `microfleet-pod-runner`: registers a Node and runs the pods bound to it as local processes.
#[derive(Debug, Parser)]
#[command(name = "microfleet-pod-runner", version)]
pub struct Args {
    /// The Node's name.
    #[arg(long, default_value = "microfleet-node")]
    pub node_name: String,
    /// An image repository and the binary that runs it: `REPOSITORY=/abs/path` (repeatable; any tag).
    #[arg(long = "image", value_parser = images::parse_mapping)]
    pub images: Vec<(String, PathBuf)>,
    /// Per-pod directories (logs, termination messages, volumes) live under this.
    #[arg(long, default_value = "/tmp/microfleet-pod-runner")]
    pub work_dir: PathBuf,
    /// What pods get as KUBERNETES_SERVICE_HOST (also the node's and every pod's IP).
    #[arg(long, default_value = "127.0.0.1")]
    pub api_host: String,
    /// What pods get as KUBERNETES_SERVICE_PORT.
    #[arg(long, default_value_t = 6443)]
    pub api_port: u16,
    /// The cluster CA (ca.crt of service-account volumes while kube-root-ca.crt is not published).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Enforce memory limits by polling RSS even where cgroups work.
    #[arg(long)]
    pub poll_memory: bool,
    /// The pod network's bridge (made by `scripts/node.sh`): with it, each pod gets a network namespace of
    /// its own on this bridge; without it, pods share the host network.
    #[arg(long)]
    pub pod_bridge: Option<String>,
    /// The bridge's address and the pod subnet (the node's pod CIDR), e.g. `10.88.0.1/16`.
    #[arg(long, default_value = "10.88.0.1/16")]
    pub pod_cidr: String,
    /// The cluster DNS the pods' resolv.conf names (port 53); default: the bridge's address.
    #[arg(long)]
    pub cluster_dns: Option<std::net::Ipv4Addr>,
    /// The cluster domain of the pods' DNS search path.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// A taint of the Node, `KEY=VALUE:EFFECT` (repeatable).
    #[arg(long = "taint", value_parser = crate::node::parse_taint)]
    pub taints: Vec<k8s_openapi::api::core::v1::Taint>,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}
