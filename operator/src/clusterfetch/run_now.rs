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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusterfetch::fixtures::{cluster_fetch, spec};
    use microfleet_crds::clusterfetch::ClusterFetchStatus;

    /// name, annotation, last value acted on, policy, active runs, expected plan
    type Row = (&'static str, Option<&'static str>, Option<&'static str>, ConcurrencyPolicy, usize, RunNowPlan);

    #[test]
    fn run_now_requests() {
        let rows: &[Row] = &[
            ("no annotation", None, None, ConcurrencyPolicy::Forbid, 0, RunNowPlan::Nothing),
            ("blank annotation", Some(" "), None, ConcurrencyPolicy::Forbid, 0, RunNowPlan::Nothing),
            ("new value", Some("1"), None, ConcurrencyPolicy::Forbid, 0, RunNowPlan::Start("1".into())),
            ("value already acted on", Some("1"), Some("1"), ConcurrencyPolicy::Forbid, 0, RunNowPlan::Nothing),
            ("another value", Some("2"), Some("1"), ConcurrencyPolicy::Forbid, 0, RunNowPlan::Start("2".into())),
            ("forbid while active", Some("2"), Some("1"), ConcurrencyPolicy::Forbid, 1, RunNowPlan::Defer("2".into())),
            ("allow while active", Some("2"), None, ConcurrencyPolicy::Allow, 1, RunNowPlan::Start("2".into())),
            ("replace while active", Some("2"), None, ConcurrencyPolicy::Replace, 1, RunNowPlan::Start("2".into())),
        ];
        for (name, annotation, last, policy, active, expected) in rows {
            let mut s = spec();
            s.concurrency_policy = *policy;
            let mut cf = cluster_fetch(s);
            if let Some(value) = annotation {
                cf.metadata.annotations = Some([(labels::RUN_NOW.to_string(), value.to_string())].into());
            }
            cf.status = Some(ClusterFetchStatus { last_run_now: last.map(Into::into), ..Default::default() });
            assert_eq!(&plan_run_now(&cf, *active), expected, "{name}");
        }
    }
}
