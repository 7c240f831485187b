//! The `ClusterFetch` resource (group `microfleet.io`, version `v1alpha1`): spec and status types.

mod spec;
mod status;

pub use spec::*;
pub use status::*;
