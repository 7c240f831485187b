//! What every Microfleet binary (the operator and the workloads) shares: logging set-up and SIGTERM
//! handling. Nothing domain-specific belongs here.

pub mod shutdown;
pub mod telemetry;
