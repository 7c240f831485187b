//! Shared helpers of the cross-crate test tiers.
//!
//! [`cluster`] connects to the real control plane (and the pod runner's node); [`admission`] asks it what it
//! does with a ClusterFetch at `kubectl apply` (a server-side dry run), followed by the operator's own spec
//! checks; [`operator`] installs the chart or runs the operator as a process; [`audit`] reads the API server's
//! audit log. [`tools`] finds the external tools the tiers run (installed by `scripts/tools.sh`) and renders
//! the Helm chart; [`broker`] locates the real Kafka broker (`scripts/kafka.sh`); [`dns`] asks the cluster
//! DNS (`scripts/coredns.sh`) for a name; [`endpoints`] follows a Service's ready endpoints from the host.

pub mod admission;
pub mod audit;
pub mod broker;
pub mod cluster;
pub mod dns;
pub mod endpoints;
pub mod operator;
pub mod tools;

use std::path::PathBuf;

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
