//! Shared, boring runtime pieces: metrics, the health/metrics server, leader election, logging, shutdown.

pub mod leader;
pub mod metrics;
pub mod server;
pub mod shutdown;
pub mod telemetry;
