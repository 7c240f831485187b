//! `microfleet-fetcher`: what a ClusterFetch's pods run.
//!
//! - `notify`: the failure notifier the operator starts once per failed run (one webhook call, retried).
//!
//! The contract with the operator (env vars, run summary, exit codes) lives in `microfleet_crds::contract`.

pub mod http;
pub mod notify;
pub mod parse;
pub mod retry;
