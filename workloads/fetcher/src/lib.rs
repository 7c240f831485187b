//! `microfleet-fetcher`: what a ClusterFetch's pods run.
//!
//! - `run`: fetch the list page by page (streaming, retried per page), check it, deliver it in batches to a
//!   staging sink and commit — or abort; report a [`microfleet_crds::contract::RunSummary`] and exit with
//!   the failure class's code.
//! - `notify`: the failure notifier the operator starts once per failed run.
//! - `check-receiver`: the conformance check of a receiver against the receiver protocol.
//!
//! The contract with the operator (env vars, run summary, exit codes) lives in `microfleet_crds::contract`.

pub mod checks;
pub mod conformance;
pub mod http;
pub mod notify;
pub mod pagination;
pub mod parse;
pub mod plan;
pub mod progress;
pub mod report;
pub mod retry;
pub mod run;
pub mod sink;
