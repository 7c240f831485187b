//! Table-driven tests of `derive_status`: one row per run outcome, plus history, dedup and conditions.

use super::*;
use crate::clusterfetch::fixtures::{
    at, cluster_fetch, manual, notifier_job, pod, run_job, spec, summary, JobState, PodState,
};
use crate::conditions::MESSAGE_LIMIT;
use microfleet_crds::clusterfetch::ClusterFetchSpec;

fn derive(spec: ClusterFetchSpec, previous: Option<ClusterFetchStatus>, observed: Observed) -> Derived {
    let mut cf = cluster_fetch(spec);
    cf.status = previous;
    derive_status(&cf, &observed, &Verdict::Applied, at(120))
}

struct Row {
    name: &'static str,
    job: JobState,
    pod: Option<PodState>,
    previous_waiting: Option<&'static str>,
    outcome: RunOutcome,
    class: Option<FailureClass>,
    message_has: &'static str,
}

#[test]
fn every_run_outcome_is_classified() {
    let oom = || PodState::Terminated(137, "OOMKilled", String::new());
    let rows = vec![
        Row {
            name: "success with summary",
            job: JobState::Succeeded(5),
            pod: Some(PodState::Terminated(0, "Completed", summary("r", None, 1000))),
            previous_waiting: None,
            outcome: RunOutcome::Succeeded,
            class: None,
            message_has: "",
        },
        Row {
            name: "source failure reported by the fetcher",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(4, "Error", summary("r", Some(FailureClass::Source), 10))),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Source),
            message_has: "Source went wrong",
        },
        Row {
            name: "sink failure reported by the fetcher",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(5, "Error", summary("r", Some(FailureClass::Sink), 10))),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Sink),
            message_has: "Sink went wrong",
        },
        Row {
            name: "checks failure reported by the fetcher",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(6, "Error", summary("r", Some(FailureClass::Checks), 0))),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Checks),
            message_has: "Checks went wrong",
        },
        Row {
            name: "OOMKilled",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(oom()),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::OutOfMemory),
            message_has: "spec.resources.limits.memory",
        },
        Row {
            name: "deadline exceeded while running",
            job: JobState::Failed(60, "DeadlineExceeded"),
            pod: Some(PodState::Terminated(7, "Error", summary("r", Some(FailureClass::Interrupted), 10))),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::DeadlineExceeded),
            message_has: "activeDeadlineSeconds (3600s)",
        },
        Row {
            name: "image pull error, pod deleted at the deadline",
            job: JobState::Failed(60, "DeadlineExceeded"),
            pod: None,
            previous_waiting: Some("ImagePullBackOff: Back-off pulling image \"bad:tag\""),
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::ImagePull),
            message_has: "ImagePullBackOff",
        },
        Row {
            name: "image pull error, pod still there",
            job: JobState::Failed(60, "DeadlineExceeded"),
            pod: Some(PodState::Waiting("ErrImagePull", "not found")),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::ImagePull),
            message_has: "ErrImagePull: not found",
        },
        Row {
            name: "never scheduled",
            job: JobState::Failed(60, "DeadlineExceeded"),
            pod: Some(PodState::Unschedulable),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Unschedulable),
            message_has: "Insufficient memory",
        },
        Row {
            name: "missing secret",
            job: JobState::Failed(60, "DeadlineExceeded"),
            pod: Some(PodState::Waiting("CreateContainerConfigError", "secret \"clustering-api\" not found")),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Config),
            message_has: "secret \"clustering-api\" not found",
        },
        Row {
            name: "crash without summary, log tail kept",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(101, "Error", "starting\nthread 'main' panicked at x.rs:1\n".into())),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Crashed),
            message_has: "exited with code 101 without a summary: thread 'main' panicked",
        },
        Row {
            name: "known exit code without summary",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(5, "Error", String::new())),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Sink),
            message_has: "exited with code 5",
        },
        Row {
            name: "commit outcome unknown reported by the fetcher",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(8, "Error", summary("r", Some(FailureClass::CommitUnknown), 10))),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::CommitUnknown),
            message_has: "CommitUnknown went wrong",
        },
        Row {
            name: "commit outcome unknown without summary",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: Some(PodState::Terminated(8, "Error", String::new())),
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::CommitUnknown),
            message_has: "exited with code 8 without a summary; the commit's outcome is unknown: the receiver may hold this list: check it",
        },
        Row {
            name: "job failed and pod gone",
            job: JobState::Failed(5, "BackoffLimitExceeded"),
            pod: None,
            previous_waiting: None,
            outcome: RunOutcome::Failed,
            class: Some(FailureClass::Crashed),
            message_has: "BackoffLimitExceeded",
        },
    ];
    for row in rows {
        let job = run_job("promo-users-1", 0, row.job.clone());
        let pods = row.pod.clone().map(|p| vec![pod("promo-users-1", p)]).unwrap_or_default();
        let previous = row.previous_waiting.map(|w| ClusterFetchStatus {
            active: vec![ActiveRun {
                job_name: "promo-users-1".into(),
                waiting_reason: Some(w.into()),
                ..Default::default()
            }],
            ..Default::default()
        });
        let derived = derive(spec(), previous, Observed { runs: vec![job], pods, ..Default::default() });
        assert_eq!(derived.newly_finished.len(), 1, "{}", row.name);
        let run = &derived.status.recent_runs[0];
        assert_eq!(run.outcome, row.outcome, "{}", row.name);
        assert_eq!(run.failure_class, row.class, "{}", row.name);
        assert!(run.message.clone().unwrap_or_default().contains(row.message_has), "{}: {:?}", row.name, run.message);
        let expected_notification =
            if row.outcome == RunOutcome::Failed { NotificationState::Pending } else { NotificationState::NotRequired };
        assert_eq!(run.notification, expected_notification, "{}", row.name);
        assert!(derived.status.active.is_empty(), "{}", row.name);
    }
}

#[test]
fn a_successful_run_records_items_times_and_resets_failures() {
    let previous = ClusterFetchStatus { consecutive_failures: 4, ..Default::default() };
    let job = run_job("promo-users-1", 0, JobState::Succeeded(7));
    let pods = vec![pod("promo-users-1", PodState::Terminated(0, "Completed", summary("promo-users-1", None, 1234)))];
    let derived = derive(spec(), Some(previous), Observed { runs: vec![job], pods, ..Default::default() });
    let status = &derived.status;
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(status.last_successful_time, Some(Time(at(7))));
    assert_eq!(status.last_schedule_time, Some(Time(at(0))));
    let run = &status.recent_runs[0];
    assert_eq!((run.items, run.bytes, run.duration_seconds), (Some(1234), Some(1234 * 40), Some(12.5)));
    assert_eq!(run.trigger, RunTrigger::Scheduled);
    let last = status.conditions.iter().find(|c| c.type_ == "LastRunSucceeded").unwrap();
    assert_eq!((last.status.as_str(), last.reason.as_str()), ("True", "Succeeded"));
}

#[test]
fn failures_accumulate_in_completion_order_and_a_success_resets_them() {
    let previous = ClusterFetchStatus { consecutive_failures: 2, ..Default::default() };
    let runs = vec![
        run_job("promo-users-3", 20, JobState::Failed(25, "BackoffLimitExceeded")),
        run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded")),
    ];
    let derived = derive(spec(), Some(previous.clone()), Observed { runs, ..Default::default() });
    assert_eq!(derived.status.consecutive_failures, 4);
    assert_eq!(derived.status.last_failure_time, Some(Time(at(25))));
    let names: Vec<_> = derived.newly_finished.iter().map(|r| r.job_name.as_str()).collect();
    assert_eq!(names, ["promo-users-1", "promo-users-3"], "oldest first");

    let runs = vec![
        run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded")),
        run_job("promo-users-2", 10, JobState::Succeeded(15)),
    ];
    let derived = derive(spec(), Some(previous.clone()), Observed { runs, ..Default::default() });
    assert_eq!(derived.status.consecutive_failures, 0, "the newest run succeeded");

    let runs = vec![
        run_job("promo-users-1", 0, JobState::Succeeded(5)),
        run_job("promo-users-2", 10, JobState::Failed(15, "BackoffLimitExceeded")),
    ];
    let derived = derive(spec(), Some(previous), Observed { runs, ..Default::default() });
    assert_eq!(derived.status.consecutive_failures, 1, "success then failure");
}

#[test]
fn a_recorded_run_is_never_recorded_or_notified_twice() {
    let job = run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded"));
    let first = derive(spec(), None, Observed { runs: vec![job.clone()], ..Default::default() });
    assert_eq!(first.newly_finished.len(), 1);
    let mut recorded = first.status.clone();
    recorded.recent_runs[0].notification = NotificationState::Dispatched;
    let second = derive(spec(), Some(recorded), Observed { runs: vec![job], ..Default::default() });
    assert!(second.newly_finished.is_empty());
    assert_eq!(second.status.consecutive_failures, 1);
    assert_eq!(second.pending_notifications().count(), 0);
    assert_eq!(second.status.recent_runs[0].notification, NotificationState::Dispatched);
}

#[test]
fn history_keeps_the_newest_runs_per_outcome() {
    let mut s = spec();
    s.successful_runs_history_limit = 2;
    s.failed_runs_history_limit = 1;
    let runs =
        (0..5)
            .map(|i| run_job(&format!("ok-{i}"), i * 10, JobState::Succeeded(i * 10 + 1)))
            .chain((0..3).map(|i| {
                run_job(&format!("bad-{i}"), i * 10 + 5, JobState::Failed(i * 10 + 6, "BackoffLimitExceeded"))
            }))
            .collect();
    let derived = derive(s, None, Observed { runs, ..Default::default() });
    let names: Vec<_> = derived.status.recent_runs.iter().map(|r| r.job_name.as_str()).collect();
    assert_eq!(names, ["ok-4", "ok-3", "bad-2"], "newest first by completion");
}

#[test]
fn a_run_pruned_from_history_is_not_taken_for_a_new_one() {
    let mut s = spec();
    s.successful_runs_history_limit = 2;
    let newer = vec![run_job("ok-2", 20, JobState::Succeeded(21)), run_job("ok-3", 30, JobState::Succeeded(31))];
    let recorded = derive(s.clone(), None, Observed { runs: newer.clone(), ..Default::default() }).status;
    let mut runs = newer;
    runs.push(run_job("ok-1", 10, JobState::Succeeded(11)));
    let derived = derive(s, Some(recorded), Observed { runs, ..Default::default() });
    assert!(derived.newly_finished.is_empty(), "{:?}", derived.newly_finished);
}

#[test]
fn no_notification_is_due_without_spec_notify() {
    let mut s = spec();
    s.notify = None;
    let job = run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded"));
    let derived = derive(s, None, Observed { runs: vec![job], ..Default::default() });
    assert_eq!(derived.status.recent_runs[0].notification, NotificationState::NotRequired);
    assert_eq!(derived.pending_notifications().count(), 0);
}

#[test]
fn notification_state_follows_the_notifier_job() {
    let cases = [
        (None, NotificationState::Pending),
        (Some(JobState::Active), NotificationState::Dispatched),
        (Some(JobState::Succeeded(7)), NotificationState::Delivered),
        (Some(JobState::Failed(9, "BackoffLimitExceeded")), NotificationState::Failed),
    ];
    for (notifier, expected) in cases {
        let job = run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded"));
        let notifiers = notifier.clone().map(|s| vec![notifier_job("promo-users-1", s)]).unwrap_or_default();
        let derived = derive(spec(), None, Observed { runs: vec![job], notifiers, ..Default::default() });
        assert_eq!(derived.status.recent_runs[0].notification, expected, "notifier {notifier:?}");
    }
}

#[test]
fn active_runs_show_why_they_wait() {
    let runs =
        vec![run_job("promo-users-1", 0, JobState::Active), manual(run_job("promo-users-now-1", 5, JobState::Active))];
    let pods = vec![pod("promo-users-1", PodState::Waiting("ImagePullBackOff", "Back-off pulling image"))];
    let derived = derive(spec(), None, Observed { runs, pods, ..Default::default() });
    let active = &derived.status.active;
    assert_eq!(active.len(), 2);
    assert_eq!(active[0].waiting_reason.as_deref(), Some("ImagePullBackOff: Back-off pulling image"));
    assert_eq!(active[1].trigger, RunTrigger::Manual);
    assert_eq!(active[1].waiting_reason, None);
    assert_eq!(derived.status.last_schedule_time, Some(Time(at(5))));
}

#[test]
fn a_waiting_reason_outlives_the_pod_stopped_at_the_deadline_until_the_container_runs() {
    let waiting = "ImagePullBackOff: Back-off pulling image \"bad:tag\"";
    let previous = ClusterFetchStatus {
        active: vec![ActiveRun {
            job_name: "promo-users-1".into(),
            waiting_reason: Some(waiting.into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let job = || vec![run_job("promo-users-1", 0, JobState::Active)];
    // the Job's deadline passed: its pod is stopped without ever having started, or already gone
    let stopped = pod("promo-users-1", PodState::Terminated(137, "ContainerStatusUnknown", String::new()));
    for pods in [vec![stopped], vec![]] {
        let derived = derive(spec(), Some(previous.clone()), Observed { runs: job(), pods, ..Default::default() });
        assert_eq!(derived.status.active[0].waiting_reason.as_deref(), Some(waiting));
    }
    // a container that started clears it
    let mut ran = pod("promo-users-1", PodState::Terminated(1, "Error", String::new()));
    if let Some(statuses) = ran.status.as_mut().and_then(|s| s.container_statuses.as_mut()) {
        if let Some(terminated) = statuses[0].state.as_mut().and_then(|s| s.terminated.as_mut()) {
            terminated.started_at = Some(Time(at(1)));
        }
    }
    let derived = derive(spec(), Some(previous), Observed { runs: job(), pods: vec![ran], ..Default::default() });
    assert_eq!(derived.status.active[0].waiting_reason, None);
}

fn condition<'a>(status: &'a ClusterFetchStatus, type_: &str) -> &'a Condition {
    status.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

#[test]
fn conditions_follow_the_verdict() {
    let problem = SpecProblem { reason: "InvalidSchedule", field: "spec.schedule".into(), message: "bad".into() };
    let cases = [
        (Verdict::Applied, false, ("True", "Scheduled"), "False", "False"),
        (Verdict::Applied, true, ("True", "Suspended"), "False", "False"),
        (Verdict::Invalid(vec![problem]), false, ("False", "InvalidSchedule"), "False", "True"),
        (Verdict::Retrying("boom".into()), false, ("False", "ApplyFailed"), "True", "False"),
    ];
    for (verdict, suspend, (ready, ready_reason), reconciling, stalled) in cases {
        let mut s = spec();
        s.suspend = suspend;
        let cf = cluster_fetch(s);
        let status = derive_status(&cf, &Observed::default(), &verdict, at(0)).status;
        assert_eq!(condition(&status, "Ready").status, ready, "{verdict:?}");
        assert_eq!(condition(&status, "Ready").reason, ready_reason, "{verdict:?}");
        assert_eq!(condition(&status, "Reconciling").status, reconciling, "{verdict:?}");
        assert_eq!(condition(&status, "Stalled").status, stalled, "{verdict:?}");
        assert_eq!(condition(&status, "LastRunSucceeded").status, "Unknown");
        assert_eq!(status.observed_generation, Some(1));
        assert!(status.conditions.iter().all(|c| c.observed_generation == Some(1)));
    }
}

#[test]
fn a_condition_keeps_its_transition_time_until_its_status_changes() {
    let mut cf = cluster_fetch(spec());
    let first = derive_status(&cf, &Observed::default(), &Verdict::Applied, at(0)).status;
    cf.status = Some(first);
    let second = derive_status(&cf, &Observed::default(), &Verdict::Applied, at(30)).status;
    assert_eq!(condition(&second, "Ready").last_transition_time, Time(at(0)));
    cf.status = Some(second);
    let third = derive_status(&cf, &Observed::default(), &Verdict::Retrying("x".into()), at(60)).status;
    assert_eq!(condition(&third, "Ready").last_transition_time, Time(at(60)));
}

#[test]
fn long_messages_are_shortened() {
    let long = "x".repeat(5000);
    let job = run_job("promo-users-1", 0, JobState::Failed(5, "BackoffLimitExceeded"));
    let pods = vec![pod("promo-users-1", PodState::Terminated(101, "Error", long))];
    let derived = derive(spec(), None, Observed { runs: vec![job], pods, ..Default::default() });
    assert!(derived.status.recent_runs[0].message.as_ref().unwrap().len() <= MESSAGE_LIMIT);
}
