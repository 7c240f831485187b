//! Status: derives a ClusterFetch's status from the Jobs and Pods of its runs and its previous status.
//!
//! Pure: takes values (the ClusterFetch, what was observed, the reconcile verdict, the time), returns the
//! new status and the runs that finished since the previous one. No client and no clock.

use jiff::Timestamp;
use k8s_openapi::{
    api::{batch::v1::Job, core::v1::Pod},
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{runtime::events::EventType, ResourceExt};
use microfleet_crds::{
    clusterfetch::{ActiveRun, ClusterFetch, ClusterFetchStatus, NotificationState, RunOutcome, RunRecord, RunTrigger},
    contract::{FailureClass, RunSummary, RECEIVER_MAY_HOLD_LIST},
    labels,
};

use super::validate::SpecProblem;
use crate::conditions::{set_condition, shorten};

/// The label the Job controller puts on a Job's pods.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// The annotation the CronJob controller puts on the Jobs it schedules (Kubernetes 1.28+).
const SCHEDULED_AT_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The objects of one ClusterFetch, as read from the cluster.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Jobs of runs (scheduled and manual).
    pub runs: Vec<Job>,
    /// Jobs of failure notifiers.
    pub notifiers: Vec<Job>,
    /// Pods of runs.
    pub pods: Vec<Pod>,
}

/// What this reconcile managed to do with the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The spec is valid and the CronJob is applied.
    Applied,
    /// The spec has problems only a spec change can fix.
    Invalid(Vec<SpecProblem>),
    /// Applying failed for a reason that may pass (it will be retried).
    Retrying(String),
}

/// The derived status, and the runs that finished since the previous status (oldest first).
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// The status to write.
    pub status: ClusterFetchStatus,
    /// Runs first seen finished in this derivation; each gets one Event.
    pub newly_finished: Vec<RunRecord>,
}

impl Derived {
    /// Runs whose failure notification is due and not yet dispatched.
    pub fn pending_notifications(&self) -> impl Iterator<Item = &RunRecord> {
        self.status.recent_runs.iter().filter(|r| r.notification == NotificationState::Pending)
    }
}

/// Computes the status of `cf` from what was observed.
pub fn derive_status(cf: &ClusterFetch, observed: &Observed, verdict: &Verdict, now: Timestamp) -> Derived {
    let previous = cf.status.clone().unwrap_or_default();
    let notify_configured = cf.spec.notify.is_some();

    let mut active = Vec::new();
    let mut newly_finished = Vec::new();
    let mut last_schedule = previous.last_schedule_time.clone();
    for job in &observed.runs {
        let scheduled = scheduled_time(job);
        if scheduled.as_ref().map(|t| t.0) > last_schedule.as_ref().map(|t| t.0) {
            last_schedule = scheduled;
        }
        let pod = latest_pod(&observed.pods, &job.name_any());
        match finish_of(job) {
            None => active.push(ActiveRun {
                job_name: job.name_any(),
                trigger: trigger_of(job),
                start_time: start_time(job),
                waiting_reason: current_waiting(pod, &previous, &job.name_any()),
            }),
            Some(finish) => {
                if previous.recent_runs.iter().any(|r| r.job_name == job.name_any()) {
                    continue;
                }
                let previous_waiting = previous
                    .active
                    .iter()
                    .find(|a| a.job_name == job.name_any())
                    .and_then(|a| a.waiting_reason.clone());
                let record = record_of(job, finish, pod, previous_waiting.as_deref(), notify_configured);
                if !already_pruned(&previous.recent_runs, &record, cf) {
                    newly_finished.push(record);
                }
            }
        }
    }
    active.sort_by(|a, b| a.start_time.as_ref().map(|t| t.0).cmp(&b.start_time.as_ref().map(|t| t.0)));
    newly_finished.sort_by_key(completion_key);

    let mut consecutive_failures = previous.consecutive_failures;
    let mut last_success = previous.last_successful_time.clone();
    let mut last_failure = previous.last_failure_time.clone();
    for run in &newly_finished {
        match run.outcome {
            RunOutcome::Succeeded => {
                consecutive_failures = 0;
                last_success = later(last_success, run.completion_time.clone());
            }
            RunOutcome::Failed => {
                consecutive_failures += 1;
                last_failure = later(last_failure, run.completion_time.clone());
            }
        }
    }

    let mut runs: Vec<RunRecord> = newly_finished.iter().cloned().chain(previous.recent_runs.iter().cloned()).collect();
    runs.sort_by_key(|r| std::cmp::Reverse(completion_key(r)));
    for run in &mut runs {
        run.notification = notification_state(run, &observed.notifiers);
    }
    let runs = prune_history(runs, cf.spec.successful_runs_history_limit, cf.spec.failed_runs_history_limit);

    let generation = cf.metadata.generation;
    let conditions = derive_conditions(&previous.conditions, verdict, cf, runs.first(), generation, now);
    Derived {
        status: ClusterFetchStatus {
            observed_generation: generation,
            conditions,
            last_schedule_time: last_schedule,
            last_successful_time: last_success,
            last_failure_time: last_failure,
            consecutive_failures,
            active,
            recent_runs: runs,
            last_run_now: previous.last_run_now,
        },
        newly_finished,
    }
}

/// How and when a Job finished.
#[derive(Debug, Clone)]
struct Finish {
    outcome: RunOutcome,
    at: Option<Time>,
    reason: Option<String>,
    message: Option<String>,
}

fn finish_of(job: &Job) -> Option<Finish> {
    let status = job.status.as_ref()?;
    let condition = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?;
    Some(Finish {
        outcome: if condition.type_ == "Complete" { RunOutcome::Succeeded } else { RunOutcome::Failed },
        at: status.completion_time.clone().or_else(|| condition.last_transition_time.clone()),
        reason: condition.reason.clone(),
        message: condition.message.clone(),
    })
}

fn record_of(
    job: &Job,
    finish: Finish,
    pod: Option<&Pod>,
    previous_waiting: Option<&str>,
    notify_configured: bool,
) -> RunRecord {
    let start = start_time(job);
    let terminated = pod.and_then(terminated_state);
    let summary = terminated.and_then(|t| t.message.as_deref()).and_then(RunSummary::from_termination_message);
    let job_duration = match (&start, &finish.at) {
        (Some(s), Some(e)) => Some(e.0.duration_since(s.0).as_secs_f64().max(0.0)),
        _ => None,
    };
    let mut record = RunRecord {
        job_name: job.name_any(),
        trigger: trigger_of(job),
        start_time: start,
        completion_time: finish.at.clone(),
        outcome: finish.outcome,
        items: summary.as_ref().map(|s| s.items),
        bytes: summary.as_ref().map(|s| s.bytes),
        duration_seconds: summary.as_ref().map(|s| s.duration_seconds).or(job_duration),
        failure_class: None,
        message: None,
        notification: NotificationState::NotRequired,
    };
    if finish.outcome == RunOutcome::Failed {
        let (class, message) = classify_failure(&finish, job, terminated, summary.as_ref(), pod, previous_waiting);
        record.failure_class = Some(class);
        record.message = Some(shorten(&message));
        if notify_configured {
            record.notification = NotificationState::Pending;
        }
    }
    record
}

type Terminated = k8s_openapi::api::core::v1::ContainerStateTerminated;

/// Names the failure of a run, from the most to the least specific evidence.
fn classify_failure(
    finish: &Finish,
    job: &Job,
    terminated: Option<&Terminated>,
    summary: Option<&RunSummary>,
    pod: Option<&Pod>,
    previous_waiting: Option<&str>,
) -> (FailureClass, String) {
    let waiting = pod.and_then(waiting_reason).or_else(|| previous_waiting.map(str::to_string));
    if finish.reason.as_deref() == Some("DeadlineExceeded") {
        let deadline = job.spec.as_ref().and_then(|s| s.active_deadline_seconds).unwrap_or_default();
        if let Some(waiting) = waiting {
            return (class_of_waiting(&waiting), format!("the pod never ran ({waiting}) within {deadline}s"));
        }
        return (
            FailureClass::DeadlineExceeded,
            format!("the run was still going after spec.activeDeadlineSeconds ({deadline}s) and was stopped"),
        );
    }
    if let Some(terminated) = terminated {
        if terminated.reason.as_deref() == Some("OOMKilled") {
            return (
                FailureClass::OutOfMemory,
                "the fetcher was killed for exceeding its memory limit: raise spec.resources.limits.memory".into(),
            );
        }
        if let Some(summary) = summary {
            let class = summary.failure_class.unwrap_or(FailureClass::Internal);
            let message = summary.message.clone().unwrap_or_else(|| format!("{class:?} failure"));
            return (class, message);
        }
        let class = FailureClass::from_exit_code(terminated.exit_code).unwrap_or(FailureClass::Crashed);
        let tail = terminated.message.as_deref().map(str::trim).filter(|m| !m.is_empty());
        let mut message = match tail {
            Some(tail) => format!("exited with code {} without a summary: {}", terminated.exit_code, last_line(tail)),
            None => format!("exited with code {} without a summary", terminated.exit_code),
        };
        if class == FailureClass::CommitUnknown {
            message = format!("{message}; the commit's outcome is unknown: {RECEIVER_MAY_HOLD_LIST}");
        }
        return (class, message);
    }
    if let Some(waiting) = waiting {
        return (class_of_waiting(&waiting), format!("the pod never ran: {waiting}"));
    }
    let reason = finish.reason.clone().unwrap_or_else(|| "Failed".into());
    let message = finish.message.clone().unwrap_or_default();
    (
        FailureClass::Crashed,
        format!("the Job failed ({reason}) and its pod is gone: {message}").trim_end_matches(": ").to_string(),
    )
}

fn class_of_waiting(waiting: &str) -> FailureClass {
    if waiting.starts_with("ImagePull")
        || waiting.starts_with("ErrImagePull")
        || waiting.starts_with("InvalidImageName")
    {
        FailureClass::ImagePull
    } else if waiting.starts_with("Unschedulable") {
        FailureClass::Unschedulable
    } else if waiting.starts_with("CreateContainerConfigError") {
        FailureClass::Config
    } else {
        FailureClass::Crashed
    }
}

/// Why a pod is not running yet (`Reason: message`), when it is stuck before its container started.
fn waiting_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Pending") {
        return None;
    }
    let waiting = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
        .find(|w| w.reason.as_deref().is_some_and(|r| r != "ContainerCreating" && r != "PodInitializing"));
    if let Some(waiting) = waiting {
        let reason = waiting.reason.clone().unwrap_or_default();
        return Some(match &waiting.message {
            Some(m) => shorten(&format!("{reason}: {m}")),
            None => reason,
        });
    }
    let unscheduled = status.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    let reason = unscheduled.reason.clone().unwrap_or_else(|| "Unschedulable".into());
    Some(shorten(&match &unscheduled.message {
        Some(m) => format!("{reason}: {m}"),
        None => reason,
    }))
}

/// Why an active run's pod is not running: what the pod says now, or, while its container has never started
/// (e.g. the pod is being deleted at the Job's deadline and no longer says it waits), what it said before, so
/// the run's failure is still classified by its cause.
fn current_waiting(pod: Option<&Pod>, previous: &ClusterFetchStatus, job_name: &str) -> Option<String> {
    if let Some(reason) = pod.and_then(waiting_reason) {
        return Some(reason);
    }
    if pod.is_some_and(container_started) {
        return None;
    }
    previous.active.iter().find(|a| a.job_name == job_name).and_then(|a| a.waiting_reason.clone())
}

/// True once a container of the pod has run (running now, or terminated after a start).
fn container_started(pod: &Pod) -> bool {
    pod.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).any(|c| {
        c.state.as_ref().is_some_and(|state| {
            state.running.is_some() || state.terminated.as_ref().is_some_and(|t| t.started_at.is_some())
        })
    })
}

fn terminated_state(pod: &Pod) -> Option<&Terminated> {
    pod.status.as_ref()?.container_statuses.as_ref()?.iter().find_map(|c| c.state.as_ref()?.terminated.as_ref())
}

fn latest_pod<'a>(pods: &'a [Pod], job_name: &str) -> Option<&'a Pod> {
    pods.iter()
        .filter(|p| {
            p.labels().get(JOB_NAME_LABEL).or_else(|| p.labels().get("job-name")).map(String::as_str) == Some(job_name)
        })
        .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn trigger_of(job: &Job) -> RunTrigger {
    if job.annotations().get(labels::INSTANTIATE).map(String::as_str) == Some("manual") {
        RunTrigger::Manual
    } else {
        RunTrigger::Scheduled
    }
}

fn start_time(job: &Job) -> Option<Time> {
    job.status.as_ref().and_then(|s| s.start_time.clone()).or_else(|| job.metadata.creation_timestamp.clone())
}

fn scheduled_time(job: &Job) -> Option<Time> {
    job.annotations()
        .get(SCHEDULED_AT_ANNOTATION)
        .and_then(|v| v.parse::<Timestamp>().ok())
        .map(Time)
        .or_else(|| job.metadata.creation_timestamp.clone())
}

fn completion_key(run: &RunRecord) -> (Option<Timestamp>, Option<Timestamp>, String) {
    (run.completion_time.as_ref().map(|t| t.0), run.start_time.as_ref().map(|t| t.0), run.job_name.clone())
}

fn later(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// A finished Job missing from a full history, and older than everything in it, was recorded before and
/// pruned from status; recording it again would repeat its Event and its notification.
fn already_pruned(history: &[RunRecord], record: &RunRecord, cf: &ClusterFetch) -> bool {
    let limit = match record.outcome {
        RunOutcome::Succeeded => cf.spec.successful_runs_history_limit,
        RunOutcome::Failed => cf.spec.failed_runs_history_limit,
    };
    let same: Vec<&RunRecord> = history.iter().filter(|r| r.outcome == record.outcome).collect();
    if (same.len() as i64) < i64::from(limit.max(1)) {
        return false;
    }
    same.iter().all(|r| completion_key(r) > completion_key(record))
}

fn notification_state(run: &RunRecord, notifiers: &[Job]) -> NotificationState {
    if run.notification == NotificationState::NotRequired {
        return NotificationState::NotRequired;
    }
    let notifier = notifiers
        .iter()
        .find(|j| j.labels().get(labels::NOTIFIES_RUN).map(String::as_str) == Some(run.job_name.as_str()));
    match notifier.map(finish_of) {
        None => run.notification,
        Some(None) => NotificationState::Dispatched,
        Some(Some(f)) if f.outcome == RunOutcome::Succeeded => NotificationState::Delivered,
        Some(Some(_)) => NotificationState::Failed,
    }
}

/// Keeps the newest `successful` succeeded and `failed` failed runs (`runs` is newest first).
fn prune_history(runs: Vec<RunRecord>, successful: i32, failed: i32) -> Vec<RunRecord> {
    let (mut kept_ok, mut kept_failed) = (0, 0);
    runs.into_iter()
        .filter(|r| {
            let (kept, limit) = match r.outcome {
                RunOutcome::Succeeded => (&mut kept_ok, successful.max(1)),
                RunOutcome::Failed => (&mut kept_failed, failed.max(1)),
            };
            *kept += 1;
            *kept <= limit
        })
        .collect()
}

fn derive_conditions(
    previous: &[Condition],
    verdict: &Verdict,
    cf: &ClusterFetch,
    latest: Option<&RunRecord>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match verdict {
        Verdict::Applied => {
            let (reason, message) = if cf.spec.suspend {
                ("Suspended", "CronJob is in place; spec.suspend is true, so no run is scheduled".to_string())
            } else {
                ("Scheduled", format!("CronJob is in place; runs follow {:?}", cf.spec.schedule))
            };
            (
                ("True", reason, message),
                ("False", "Reconciled", "the spec is applied".to_string()),
                ("False", "Reconciled", "the spec is applied".to_string()),
            )
        }
        Verdict::Invalid(problems) => {
            let reason = problems.first().map(|p| p.reason).unwrap_or("InvalidSpec");
            let message = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            (
                ("False", reason, message.clone()),
                ("False", reason, "waiting for a spec change".to_string()),
                ("True", reason, message),
            )
        }
        Verdict::Retrying(message) => (
            ("False", "ApplyFailed", message.clone()),
            ("True", "Retrying", message.clone()),
            ("False", "Retrying", "the error may pass; retrying with backoff".to_string()),
        ),
    };
    let last_run = match latest {
        None => ("Unknown", "NoRunYet", "no run has finished yet".to_string()),
        Some(run) if run.outcome == RunOutcome::Succeeded => (
            "True",
            "Succeeded",
            format!("run {} delivered {} items", run.job_name, run.items.map_or("?".into(), |n| n.to_string())),
        ),
        Some(run) => (
            "False",
            run.failure_class.map_or("Failed", failure_reason),
            format!("run {} failed: {}", run.job_name, run.message.clone().unwrap_or_default()),
        ),
    };
    let mut conditions = previous.to_vec();
    for (type_, (status, reason, message)) in
        [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled), ("LastRunSucceeded", last_run)]
    {
        set_condition(&mut conditions, type_, status, reason, &message, generation, now);
    }
    conditions
}

/// The Event a finished run gets: (type, reason, action, note).
pub fn run_event(run: &RunRecord) -> (EventType, &'static str, &'static str, String) {
    match run.outcome {
        RunOutcome::Succeeded => (
            EventType::Normal,
            "RunSucceeded",
            "Run",
            format!(
                "run {} delivered {} items in {:.1}s",
                run.job_name,
                run.items.map_or("?".into(), |n| n.to_string()),
                run.duration_seconds.unwrap_or_default()
            ),
        ),
        RunOutcome::Failed => (
            EventType::Warning,
            run.failure_class.map_or("RunFailed", failure_reason),
            "Run",
            format!("run {} failed: {}", run.job_name, run.message.clone().unwrap_or_default()),
        ),
    }
}

/// The CamelCase reason a failure class gives a condition or an Event.
pub fn failure_reason(class: FailureClass) -> &'static str {
    match class {
        FailureClass::Config => "ConfigError",
        FailureClass::Source => "SourceFailed",
        FailureClass::Sink => "SinkFailed",
        FailureClass::Checks => "ChecksFailed",
        FailureClass::Interrupted => "Interrupted",
        FailureClass::Internal => "InternalError",
        FailureClass::OutOfMemory => "OutOfMemory",
        FailureClass::DeadlineExceeded => "DeadlineExceeded",
        FailureClass::ImagePull => "ImagePullFailed",
        FailureClass::Unschedulable => "Unschedulable",
        FailureClass::Crashed => "Crashed",
        FailureClass::CommitUnknown => "CommitOutcomeUnknown",
    }
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(text)
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
