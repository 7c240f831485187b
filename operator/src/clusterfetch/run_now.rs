//! Run now: decides whether the `microfleet.io/run-now` annotation asks for a run, and when it may start.
//!
//! Pure: no I/O. The Job itself is built by `build::build_run_now_job`.

use kube::ResourceExt;
use microfleet_crds::{
    clusterfetch::{ClusterFetch, ConcurrencyPolicy},
    labels,
};

/// What to do about the run-now annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunNowPlan {
    /// No new request (no annotation, or its value was already acted on).
    Nothing,
    /// Start a run for this annotation value.
    Start(String),
    /// A run is active and the concurrency policy is Forbid: start once it has finished.
    Defer(String),
}

/// Plans the run-now request of `cf`, given how many runs are active.
pub fn plan_run_now(cf: &ClusterFetch, active_runs: usize) -> RunNowPlan {
    let Some(value) = cf.annotations().get(labels::RUN_NOW).filter(|v| !v.trim().is_empty()) else {
        return RunNowPlan::Nothing;
    };
    let last = cf.status.as_ref().and_then(|s| s.last_run_now.as_deref());
    if last == Some(value.as_str()) {
        return RunNowPlan::Nothing;
    }
    if active_runs > 0 && cf.spec.concurrency_policy == ConcurrencyPolicy::Forbid {
        return RunNowPlan::Defer(value.clone());
    }
    RunNowPlan::Start(value.clone())
}
