//! Shared, boring runtime pieces of the operator: metrics, the health/metrics server, leader election, the
//! health of the watches, where the controllers watch, how they stop.
//! (Logging and shutdown come from `microfleet-common`, shared with the workloads.)

pub mod leader;
pub mod metrics;
pub mod scope;
pub mod server;
pub mod stopping;
pub mod watches;
