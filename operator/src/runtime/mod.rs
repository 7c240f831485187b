//! Shared, boring runtime pieces of the operator: metrics, the health/metrics server, leader election.
//! (Logging and shutdown come from `microfleet-common`, shared with the workloads.)

pub mod leader;
pub mod metrics;
pub mod server;
