//! Shared, boring runtime pieces of the operator: metrics, the health/metrics server, leader election, the
//! health of the watches.
//! (Logging and shutdown come from `microfleet-common`, shared with the workloads.)

pub mod leader;
pub mod metrics;
pub mod server;
pub mod watches;
