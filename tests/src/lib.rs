//! Shared helpers of the cross-crate test tiers.
//!
//! [`admission`] replays what the API server does with a ClusterFetch at `kubectl apply` (defaults, the
//! CRD's OpenAPI schema, its CEL rules), followed by the operator's own spec checks. [`tools`] finds the
//! external tools the tiers run (installed by `scripts/tools.sh`) and renders the Helm chart. [`cluster`]
//! connects to the real control plane (and the pod runner's node) for the cluster tiers.

pub mod admission;
pub mod cluster;
pub mod tools;

use std::path::PathBuf;

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
