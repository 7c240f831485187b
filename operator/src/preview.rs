//! Preview: what the operator would record for one finished run — the status, the Event and, for a failed
//! run with spec.notify, the notification — from a ClusterFetch manifest and the run's termination
//! message and exit code. Runs the operator's own pure status derivation on a synthetic Job and Pod.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{
    api::{
        batch::v1::{Job, JobCondition, JobSpec, JobStatus},
        core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodStatus},
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::{api::ObjectMeta, ResourceExt};
use microfleet_crds::{
    clusterfetch::{ClusterFetch, NotificationState},
    contract::{env, RunSummary},
    labels,
};

use crate::{
    clusterfetch::{
        build::{build_notifier_job, BuildConfig},
        status::{derive_status, run_event, Observed, Verdict},
    },
    render::RenderError,
};

/// What the operator would record for a run.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The status, as YAML.
    pub status_yaml: String,
    /// The Event: type, reason and note.
    pub event: String,
    /// The notification JSON the notifier would send, if any.
    pub notification: Option<String>,
}

/// Previews a run of the ClusterFetch in `manifest` that ended with `termination_message` and `exit_code`.
pub fn preview_run(
    manifest: &str,
    termination_message: &str,
    exit_code: i32,
    now: Timestamp,
) -> Result<Preview, RenderError> {
    let mut cf: ClusterFetch = serde_yaml::from_str(manifest)?;
    cf.metadata.namespace.get_or_insert_with(|| "default".into());
    cf.metadata.uid.get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    cf.metadata.generation = Some(1);
    let summary = RunSummary::from_termination_message(termination_message);
    let duration = summary.as_ref().map_or(0.0, |s| s.duration_seconds);
    let start = now.checked_sub(SignedDuration::from_secs_f64(duration)).unwrap_or(now);
    let job_name = summary.as_ref().map_or_else(|| format!("{}-preview", cf.name_any()), |s| s.run_id.clone());
    let (condition, reason) =
        if exit_code == 0 { ("Complete", None) } else { ("Failed", Some("BackoffLimitExceeded".to_string())) };
    let run_labels = [
        (labels::CLUSTER_FETCH.to_string(), cf.name_any()),
        (labels::ROLE.to_string(), labels::ROLE_RUN.to_string()),
        ("batch.kubernetes.io/job-name".to_string(), job_name.clone()),
    ];
    let job = Job {
        metadata: ObjectMeta {
            name: Some(job_name.clone()),
            namespace: cf.namespace(),
            labels: Some(run_labels.clone().into()),
            creation_timestamp: Some(Time(start)),
            ..Default::default()
        },
        spec: Some(JobSpec { active_deadline_seconds: Some(cf.spec.active_deadline_seconds), ..Default::default() }),
        status: Some(JobStatus {
            start_time: Some(Time(start)),
            completion_time: (exit_code == 0).then_some(Time(now)),
            conditions: Some(vec![JobCondition {
                type_: condition.into(),
                status: "True".into(),
                reason,
                last_transition_time: Some(Time(now)),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    };
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(format!("{job_name}-pod")),
            namespace: cf.namespace(),
            labels: Some(run_labels.into()),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "fetcher".into(),
                state: Some(ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code,
                        reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                        message: Some(termination_message.to_string()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    };
    let observed = Observed { runs: vec![job], pods: vec![pod], ..Default::default() };
    let derived = derive_status(&cf, &observed, &Verdict::Applied, now);
    let run = derived.status.recent_runs.first().cloned();
    let event =
        run.as_ref().map(run_event).map_or_else(String::new, |(t, reason, _, note)| format!("{t:?} {reason}: {note}"));
    let config = BuildConfig::new("preview");
    let notification = match &run {
        Some(run) if run.notification == NotificationState::Pending => {
            build_notifier_job(&cf, run, derived.status.consecutive_failures, &config)?.and_then(|job| {
                job.spec?
                    .template
                    .spec?
                    .containers
                    .first()?
                    .env
                    .clone()?
                    .into_iter()
                    .find(|e| e.name == env::NOTIFICATION)?
                    .value
            })
        }
        _ => None,
    };
    let status_yaml =
        serde_yaml::to_string(&serde_json::json!({ "status": derived.status })).map_err(RenderError::Write)?;
    Ok(Preview { status_yaml, event, notification })
}

#[cfg(test)]
mod tests {
    use super::*;
    use microfleet_crds::contract::FailureClass;

    const MANIFEST: &str = "apiVersion: microfleet.io/v1alpha1\nkind: ClusterFetch\nmetadata: {name: promo, namespace: p}\nspec:\n  schedule: '@daily'\n  source: {url: 'http://a.test/u'}\n  sink: {http: {url: 'http://b.test/i'}}\n  notify: {webhookUrl: {name: hook, key: url}}\n";

    fn summary(class: Option<FailureClass>) -> String {
        RunSummary {
            run_id: "promo-1".into(),
            succeeded: class.is_none(),
            failure_class: class,
            message: class.map(|_| "page 1: HTTP 503".to_string()),
            items: 5,
            bytes: 50,
            pages: 1,
            requests: 3,
            retries: 2,
            duration_seconds: 2.0,
        }
        .to_termination_message()
    }

    #[test]
    fn a_success_and_a_failure_preview_as_the_operator_records_them() {
        let now: Timestamp = "2026-11-22T02:00:00Z".parse().unwrap();
        let ok = preview_run(MANIFEST, &summary(None), 0, now).unwrap();
        assert!(
            ok.status_yaml.contains("outcome: Succeeded") && ok.status_yaml.contains("items: 5"),
            "{}",
            ok.status_yaml
        );
        assert!(ok.event.starts_with("Normal RunSucceeded"), "{}", ok.event);
        assert_eq!(ok.notification, None);

        let failed = preview_run(MANIFEST, &summary(Some(FailureClass::Source)), 4, now).unwrap();
        assert!(failed.status_yaml.contains("failureClass: Source"), "{}", failed.status_yaml);
        assert!(failed.status_yaml.contains("consecutiveFailures: 1"));
        assert!(failed.event.starts_with("Warning SourceFailed"), "{}", failed.event);
        let notification: serde_json::Value = serde_json::from_str(&failed.notification.unwrap()).unwrap();
        assert_eq!(notification["runId"], "promo-1");
        assert_eq!(notification["message"], "page 1: HTTP 503");
    }
}
