//! Test fixtures: ClusterFetches, Jobs and Pods as the API server would return them.

use jiff::Timestamp;
use k8s_openapi::{
    api::{
        batch::v1::{Job, JobCondition, JobSpec, JobStatus},
        core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod, PodCondition,
            PodStatus,
        },
    },
    apimachinery::pkg::apis::meta::v1::Time,
};
use kube::api::ObjectMeta;
use microfleet_crds::{
    clusterfetch::{ClusterFetch, ClusterFetchSpec},
    contract::{FailureClass, RunSummary},
    labels,
};

/// A fixed instant: 2026-11-22T02:00:00Z plus `minutes`.
pub fn at(minutes: i64) -> Timestamp {
    let base: Timestamp = "2026-11-22T02:00:00Z".parse().unwrap();
    base.checked_add(jiff::SignedDuration::from_mins(minutes)).unwrap()
}

/// The spec every fixture starts from (notify set).
pub fn spec() -> ClusterFetchSpec {
    serde_yaml::from_str(
        r#"
schedule: "0 2 * * *"
timeZone: Asia/Jakarta
source:
  url: http://clustering.promo.svc:8080/v1/users
  credentials:
    bearerToken: {name: clustering-api, key: token}
sink:
  http:
    url: http://promotion.promo.svc:8080/v1/imports
    credentials:
      basic:
        username: {name: promotion-api, key: user}
        password: {name: promotion-api, key: pass}
notify:
  webhookUrl: {name: oncall-webhook, key: url}
  format: slack
"#,
    )
    .unwrap()
}

/// A ClusterFetch `promo/promo-users` as read from the API.
pub fn cluster_fetch(spec: ClusterFetchSpec) -> ClusterFetch {
    let mut cf = ClusterFetch::new("promo-users", spec);
    cf.metadata.namespace = Some("promo".into());
    cf.metadata.uid = Some("cf-uid-1".into());
    cf.metadata.generation = Some(1);
    cf
}

/// How a fixture Job stands.
#[derive(Clone, Debug)]
pub enum JobState {
    /// Running.
    Active,
    /// Complete at the minute given.
    Succeeded(i64),
    /// Failed at the minute given, with the Job condition's reason.
    Failed(i64, &'static str),
}

/// A run Job of `promo-users` started at `start` (minutes).
pub fn run_job(name: &str, start: i64, state: JobState) -> Job {
    let mut job = Job {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("promo".into()),
            labels: Some(
                [
                    (labels::CLUSTER_FETCH.to_string(), "promo-users".to_string()),
                    (labels::ROLE.to_string(), labels::ROLE_RUN.to_string()),
                ]
                .into(),
            ),
            creation_timestamp: Some(Time(at(start))),
            ..Default::default()
        },
        spec: Some(JobSpec { active_deadline_seconds: Some(3600), ..Default::default() }),
        status: Some(JobStatus { start_time: Some(Time(at(start))), ..Default::default() }),
    };
    let status = job.status.as_mut().unwrap();
    match state {
        JobState::Active => status.active = Some(1),
        JobState::Succeeded(end) => {
            status.completion_time = Some(Time(at(end)));
            status.conditions = Some(vec![condition("Complete", None, end)]);
        }
        JobState::Failed(end, reason) => {
            status.conditions = Some(vec![condition("Failed", Some(reason), end)]);
        }
    }
    job
}

fn condition(type_: &str, reason: Option<&str>, minute: i64) -> JobCondition {
    JobCondition {
        type_: type_.into(),
        status: "True".into(),
        reason: reason.map(Into::into),
        message: reason.map(|r| format!("Job has reached the specified {r}")),
        last_transition_time: Some(Time(at(minute))),
        ..Default::default()
    }
}

/// Marks a Job as started by run-now.
pub fn manual(mut job: Job) -> Job {
    job.metadata.annotations = Some([(labels::INSTANTIATE.to_string(), "manual".to_string())].into());
    job
}

/// A notifier Job for `run`, in the given state.
pub fn notifier_job(run: &str, state: JobState) -> Job {
    let mut job = run_job(&format!("promo-users-notify-{run}"), 0, state);
    let l = job.metadata.labels.as_mut().unwrap();
    l.insert(labels::ROLE.into(), labels::ROLE_NOTIFIER.into());
    l.insert(labels::NOTIFIES_RUN.into(), run.into());
    job
}

/// How a fixture Pod stands.
#[derive(Clone, Debug)]
pub enum PodState {
    /// Container exited with code, reason and termination message.
    Terminated(i32, &'static str, String),
    /// Pending, container waiting with reason and message.
    Waiting(&'static str, &'static str),
    /// Pending, not scheduled.
    Unschedulable,
}

/// The pod of run Job `job`.
pub fn pod(job: &str, state: PodState) -> Pod {
    let mut status = PodStatus::default();
    let container = |state: ContainerState| ContainerStatus {
        name: "fetcher".into(),
        state: Some(state),
        image: "img".into(),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        ..Default::default()
    };
    match state {
        PodState::Terminated(code, reason, message) => {
            status.phase = Some(if code == 0 { "Succeeded" } else { "Failed" }.into());
            status.container_statuses = Some(vec![container(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(reason.into()),
                    message: Some(message),
                    ..Default::default()
                }),
                ..Default::default()
            })]);
        }
        PodState::Waiting(reason, message) => {
            status.phase = Some("Pending".into());
            status.container_statuses = Some(vec![container(ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: Some(message.into()) }),
                ..Default::default()
            })]);
        }
        PodState::Unschedulable => {
            status.phase = Some("Pending".into());
            status.conditions = Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/3 nodes are available: 3 Insufficient memory.".into()),
                ..Default::default()
            }]);
        }
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("{job}-abcde")),
            namespace: Some("promo".into()),
            labels: Some(
                [
                    (labels::CLUSTER_FETCH.to_string(), "promo-users".to_string()),
                    (labels::ROLE.to_string(), labels::ROLE_RUN.to_string()),
                    ("batch.kubernetes.io/job-name".to_string(), job.to_string()),
                ]
                .into(),
            ),
            creation_timestamp: Some(Time(at(0))),
            ..Default::default()
        },
        spec: None,
        status: Some(status),
    }
}

/// A fetcher's termination message.
pub fn summary(run: &str, class: Option<FailureClass>, items: i64) -> String {
    RunSummary {
        run_id: run.into(),
        succeeded: class.is_none(),
        failure_class: class,
        message: class.map(|c| format!("{c:?} went wrong")),
        items,
        bytes: items * 40,
        pages: 3,
        requests: 4,
        retries: 1,
        duration_seconds: 12.5,
    }
    .to_termination_message()
}
