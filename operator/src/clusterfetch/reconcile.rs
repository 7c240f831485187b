//! The ClusterFetch reconcile: read → validate → build → apply → status, in that order and nothing else.
//!
//! Decisions live in the pure modules (`validate`, `build`, `run_now`, `status`); this file sequences them
//! and performs the writes through `apply`.

use std::{sync::Arc, time::Duration};

use k8s_openapi::api::batch::v1::CronJob;
use kube::{
    runtime::{controller::Action, events::EventType, reflector::ObjectRef},
    ResourceExt,
};
use microfleet_crds::clusterfetch::{ClusterFetch, NotificationState};

use super::{
    alerts::{build_prometheus_rule, rule_name},
    apply::{Created, RuleApplied},
    build::{build_cronjob, build_notifier_job, build_run_now_job, BuildError},
    cronjob_view::CronJobView,
    fetch_view::ClusterFetchView,
    in_line::{applied_hash, cronjob_in_line, hash_of, key_of, rule_applied_message, rule_in_line, stamp},
    read,
    run_now::{plan_run_now, RunNowPlan},
    status::{derive_status, run_event, Verdict},
    validate::{validate_spec, SpecProblem},
    Context, CONTROLLER,
};
use crate::{conditions::set_condition, error::Error};

/// When a PrometheusRule apply or delete that failed is tried again (other failures back off, see
/// `error_policy`).
const RULE_RETRY: Duration = Duration::from_secs(300);

/// Brings the cluster in line with the ClusterFetch of a cached view: reads the whole object (one GET) and
/// reconciles it ([`reconcile_fetch`]). Makes no request while the cache has not shown this process's last
/// status write (that write's watch event triggers the next reconcile), nor when the inputs in the caches
/// are those of the last good reconcile (see `read::inputs_digest`): the controller's periodic pass over an
/// object in line costs nothing. Nothing is requeued per object (the controller's queue would hold an entry
/// for each of them): every input is watched, and the periodic pass is the safety net.
pub async fn reconcile(view: Arc<ClusterFetchView>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    if ctx.written.status_behind(view.as_ref()) {
        return Ok(Action::await_change());
    }
    let rule_kind = ctx.rule_kind().await;
    let inputs = read::inputs_digest(&view, &ctx.cronjobs, &ctx.jobs, &ctx.pods, rule_kind);
    let key = key_of(view.as_ref());
    if ctx.settled.unchanged(&key, inputs) {
        return Ok(Action::await_change());
    }
    ctx.settled.forget(&key);
    let Some(cf) = read::fetch(&ctx.client, &view).await? else {
        // deleted since the cache saw it: its deletion event follows
        return Ok(Action::await_change());
    };
    if reconcile_fetch(&cf, &ctx).await? == Settles::Yes {
        ctx.settled.record(&key, inputs);
        return Ok(Action::await_change());
    }
    Ok(Action::requeue(RULE_RETRY))
}

/// Whether a good reconcile left nothing to try again: `No` when the PrometheusRule apply or delete failed
/// (the same inputs must not skip the retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settles {
    /// In line, or waiting for a change of its inputs.
    Yes,
    /// To be tried again after [`RULE_RETRY`].
    No,
}

/// Brings the cluster in line with one ClusterFetch and records what it observed in status. Writes only
/// what changes something: a child or a status already in line (see `in_line`) is left alone, so a
/// reconcile of an object whose inputs did not change writes nothing.
pub async fn reconcile_fetch(cf: &ClusterFetch, ctx: &Context) -> Result<Settles, Error> {
    let now = (ctx.clock)();

    // read
    let observed = read::observe(cf, &ctx.jobs, &ctx.pods);

    // validate → build → apply
    let mut apply_error = None;
    let mut cronjob = None;
    let verdict = match validate_spec(&cf.spec) {
        Err(problems) => Verdict::Invalid(problems),
        Ok(()) => {
            let mut desired = build_cronjob(cf, &ctx.config)?;
            stamp(&mut desired);
            match ensure_cronjob(cf, ctx, &desired).await {
                Ok(uid) => {
                    desired.metadata.uid = Some(uid);
                    cronjob = Some(desired);
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
    let mut derived = derive_status(cf, &observed, &verdict, now);
    let mut events = Vec::new();

    let mut settles = Settles::Yes;
    if cronjob.is_some() {
        let (status, reason, message) = apply_alerts(cf, ctx).await;
        if matches!(reason, "ApplyFailed" | "DeleteFailed") {
            settles = Settles::No;
        }
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
        match plan_run_now(cf, derived.status.active.len()) {
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
        let Some(job) = build_notifier_job(cf, run, consecutive_failures, &ctx.config)? else { continue };
        if ctx.writer.create_job(&job).await? == Created::New {
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
        if newly_stalled(cf) {
            for problem in problems {
                events.push((EventType::Warning, problem.reason, "Validate", problem.to_string()));
            }
        }
    }

    if cf.status.as_ref() != Some(&derived.status) {
        let written = ctx.writer.apply_status(cf, &derived.status).await?;
        ctx.written.record_status(cf, written.as_deref());
    }
    for (type_, reason, action, note) in events {
        ctx.writer.publish(cf, type_, reason, action, note).await;
    }
    ctx.metrics.count_finished_runs(cf, &derived.newly_finished);

    if let Some(error) = apply_error {
        return Err(error);
    }
    ctx.forget_failures(cf);
    // while the kind is missing, `rule_kind_changes` reconciles everything once it is served
    Ok(settles)
}

/// Applies `desired` (stamped with its hash) unless the cached CronJob is in line with it, or this process
/// applied it moments ago and the cache has not caught up; returns the CronJob's uid.
async fn ensure_cronjob(cf: &ClusterFetch, ctx: &Context, desired: &CronJob) -> Result<String, Error> {
    let key = ObjectRef::<CronJobView>::new(&desired.name_any()).within(&desired.namespace().unwrap_or_default());
    let cached = ctx.cronjobs.get(&key);
    let hash = hash_of(desired).unwrap_or_default();
    let pending = ctx.written.cronjob_pending(cf, hash, cached.as_deref());
    if let Some(uid) = cached.as_deref().filter(|c| cronjob_in_line(desired, c)).and_then(|c| c.uid()) {
        return Ok(uid);
    }
    if let Some(uid) = pending {
        return Ok(uid);
    }
    let applied = ctx.writer.apply_cronjob(desired).await?;
    ctx.written.record_cronjob(cf, hash, &applied);
    applied.uid().ok_or_else(|| BuildError::CronJobNotApplied(applied.name_any()).into())
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
    let hash = applied_hash(&rule);
    let applied = ("True", "RuleApplied", rule_applied_message(&rule_name(&cf.name_any()), &hash));
    if rule_in_line(cf, &hash) {
        return applied;
    }
    let missing = (
        "False",
        "PrometheusOperatorMissing",
        "monitoring.coreos.com/v1 PrometheusRule is not installed: install the prometheus-operator CRDs for alerts, or set spec.alerts.enabled to false".into(),
    );
    if !ctx.rule_kind().await.present {
        return missing;
    }
    match ctx.writer.apply_prometheus_rule(&rule).await {
        Ok(RuleApplied::Applied) => applied,
        Ok(RuleApplied::KindMissing) => {
            // discovery listed the kind, but it is not served (yet): a change of the kind, which makes this
            // reconcile's inputs stale and the next poll look at everything again
            ctx.rule_kind_missing();
            missing
        }
        Err(error) => (
            "False",
            "ApplyFailed",
            format!("applying the PrometheusRule failed ({error}); retried at the next resync"),
        ),
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
