//! The ClusterFetch reconcile: read → validate → build → apply → status, in that order and nothing else.
//!
//! Decisions live in the pure modules (`validate`, `build`, `run_now`, `status`); this file sequences them
//! and performs the writes through `apply`.

use std::{sync::Arc, time::Duration};

use kube::{
    runtime::{controller::Action, events::EventType},
    ResourceExt,
};
use microfleet_crds::clusterfetch::{ClusterFetch, NotificationState};

use super::{
    alerts::{build_prometheus_rule, rule_name},
    apply::{Created, RuleApplied},
    build::{build_cronjob, build_notifier_job, build_run_now_job},
    read,
    run_now::{plan_run_now, RunNowPlan},
    status::{derive_status, run_event, set_condition, Verdict},
    validate::{validate_spec, SpecProblem},
    Context, CONTROLLER,
};
use crate::error::Error;

/// How often a ClusterFetch is looked at again without any change (runs finishing wake it sooner).
const RESYNC: Duration = Duration::from_secs(300);

/// Brings the cluster in line with one ClusterFetch and records what it observed in status.
pub async fn reconcile(cf: Arc<ClusterFetch>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let now = (ctx.clock)();

    // read
    let observed = read::observe(&cf, &ctx.jobs, &ctx.pods);

    // validate → build → apply
    let mut apply_error = None;
    let mut cronjob = None;
    let verdict = match validate_spec(&cf.spec) {
        Err(problems) => Verdict::Invalid(problems),
        Ok(()) => {
            let desired = build_cronjob(&cf, &ctx.config)?;
            match ctx.writer.apply_cronjob(&desired).await {
                Ok(applied) => {
                    cronjob = Some(applied);
                    Verdict::Applied
                }
                Err(Error::Kube(kube::Error::Api(rejected))) if rejected.code == 400 || rejected.code == 422 => {
                    Verdict::Invalid(vec![SpecProblem {
                        reason: "CronJobRejected",
                        field: "spec".into(),
                        message: format!("the API server rejected the CronJob: {}", rejected.message),
                    }])
                }
                Err(error) => {
                    let verdict = Verdict::Retrying(format!("applying CronJob failed: {error}"));
                    apply_error = Some(error);
                    verdict
                }
            }
        }
    };

    // status (derived purely), then the writes it calls for
    let mut derived = derive_status(&cf, &observed, &verdict, now);
    let mut events = Vec::new();

    if cronjob.is_some() {
        let (status, reason, message) = apply_alerts(&cf, &ctx).await;
        set_condition(
            &mut derived.status.conditions,
            ALERTS_READY,
            status,
            reason,
            &message,
            cf.metadata.generation,
            now,
        );
    }

    if let Some(cronjob) = &cronjob {
        match plan_run_now(&cf, derived.status.active.len()) {
            RunNowPlan::Start(value) => {
                let job = build_run_now_job(cronjob, &value)?;
                let created = ctx.writer.create_job(&job).await?;
                derived.status.last_run_now = Some(value.clone());
                if created == Created::New {
                    events.push((
                        EventType::Normal,
                        "RunNowStarted",
                        "RunNow",
                        format!("started run {} for run-now request {value:?}", job.name_any()),
                    ));
                }
            }
            RunNowPlan::Defer(value) => {
                tracing::info!(run_now = %value, "run-now deferred: a run is active and concurrencyPolicy is Forbid");
            }
            RunNowPlan::Nothing => {}
        }
    }

    let consecutive_failures = derived.status.consecutive_failures;
    for run in derived.status.recent_runs.iter_mut().filter(|r| r.notification == NotificationState::Pending) {
        let Some(job) = build_notifier_job(&cf, run, consecutive_failures, &ctx.config)? else { continue };
        if ctx.writer.create_job(&job).await? == Created::New {
            ctx.metrics.notification_dispatched(&cf.namespace().unwrap_or_default(), &cf.name_any());
            events.push((
                EventType::Normal,
                "NotificationDispatched",
                "Notify",
                format!("started notifier {} for failed run {}", job.name_any(), run.job_name),
            ));
        }
        run.notification = NotificationState::Dispatched;
    }

    for run in &derived.newly_finished {
        events.push(run_event(run));
    }
    if let Verdict::Invalid(problems) = &verdict {
        if newly_stalled(&cf) {
            for problem in problems {
                events.push((EventType::Warning, problem.reason, "Validate", problem.to_string()));
            }
        }
    }

    ctx.writer.apply_status(&cf, &derived.status).await?;
    for (type_, reason, action, note) in events {
        ctx.writer.publish(&cf, type_, reason, action, note).await;
    }
    ctx.metrics.observe_clusterfetch(&cf, &derived.status, &derived.newly_finished);

    if let Some(error) = apply_error {
        return Err(error);
    }
    ctx.forget_failures(&cf);
    Ok(Action::requeue(RESYNC))
}

/// The condition that says whether the ClusterFetch's PrometheusRule is in place.
const ALERTS_READY: &str = "AlertsReady";

/// Applies (or removes) the PrometheusRule; returns the AlertsReady condition. Never fails the reconcile:
/// without the prometheus-operator there is nothing to apply, and other errors are retried at the resync.
async fn apply_alerts(cf: &ClusterFetch, ctx: &Context) -> (&'static str, &'static str, String) {
    let Some(rule) = build_prometheus_rule(cf, &ctx.config.rule_labels) else {
        let had_rule =
            cf.status.iter().flat_map(|s| &s.conditions).any(|c| c.type_ == ALERTS_READY && c.reason == "RuleApplied");
        if had_rule {
            if let Err(error) =
                ctx.writer.delete_prometheus_rule(&cf.namespace().unwrap_or_default(), &rule_name(&cf.name_any())).await
            {
                return (
                    "False",
                    "DeleteFailed",
                    format!("spec.alerts.enabled is false but removing the PrometheusRule failed: {error}"),
                );
            }
        }
        return ("False", "Disabled", "spec.alerts.enabled is false".into());
    };
    match ctx.writer.apply_prometheus_rule(&rule).await {
        Ok(RuleApplied::Applied) => ("True", "RuleApplied", format!("PrometheusRule {} is in place", rule_name(&cf.name_any()))),
        Ok(RuleApplied::KindMissing) => (
            "False",
            "PrometheusOperatorMissing",
            "monitoring.coreos.com/v1 PrometheusRule is not installed: install the prometheus-operator CRDs for alerts, or set spec.alerts.enabled to false".into(),
        ),
        Err(error) => ("False", "ApplyFailed", format!("applying the PrometheusRule failed ({error}); retried at the next resync")),
    }
}

/// True when this generation's spec problems have not been reported yet.
fn newly_stalled(cf: &ClusterFetch) -> bool {
    let Some(status) = &cf.status else { return true };
    let stalled_before = status.conditions.iter().any(|c| c.type_ == "Stalled" && c.status == "True");
    !stalled_before || status.observed_generation != cf.metadata.generation
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
