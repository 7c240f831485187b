//! `ClusterFetch` status: what the operator observed of the schedule and of every run.
//!
//! Written only by the operator (derived in a pure function from the CronJob, its Jobs and their Pods).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::contract::FailureClass;

/// Observed state of a ClusterFetch. Conditions follow kstatus: `Ready`, `Reconciling`, `Stalled`, plus
/// `LastRunSucceeded` for the most recent finished run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterFetchStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Current conditions (Ready, Reconciling, Stalled, LastRunSucceeded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When the most recent run was started (scheduled or manual).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// When the most recent successful run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// When the most recent failed run finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_time: Option<Time>,
    /// Failed runs since the last success.
    #[serde(default)]
    pub consecutive_failures: i32,
    /// Runs in progress.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<ActiveRun>,
    /// Finished runs, newest first, bounded by the spec's history limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_runs: Vec<RunRecord>,
    /// The last value of the `microfleet.io/run-now` annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_now: Option<String>,
}

/// How a run came to be.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RunTrigger {
    /// Started by the CronJob on its schedule.
    #[default]
    Scheduled,
    /// Started by the `microfleet.io/run-now` annotation.
    Manual,
}

/// A run in progress.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRun {
    /// Name of the run's Job (also the run id the fetcher sends to the sink).
    pub job_name: String,
    /// How the run was started.
    #[serde(default)]
    pub trigger: RunTrigger,
    /// When the Job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// Why the run's pod is not running yet, when it is stuck (e.g. ImagePullBackOff, Unschedulable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
}

/// The verdict of a finished run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The whole list was fetched, checked and committed to the sink.
    Succeeded,
    /// Nothing was committed (but for failure class CommitUnknown: the commit was sent and never answered,
    /// so the receiver may hold the list); see the failure class and message.
    Failed,
}

/// Where the failure notification of a run stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NotificationState {
    /// No notification is due (the run succeeded, or spec.notify is not set).
    #[default]
    NotRequired,
    /// Due; the operator has not started the notifier yet.
    Pending,
    /// The notifier Job was created.
    Dispatched,
    /// The notifier Job reported the webhook accepted the notification.
    Delivered,
    /// The notifier Job gave up; the failure is still visible in status, Events and metrics.
    Failed,
}

/// One finished run.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// Name of the run's Job (the run id).
    pub job_name: String,
    /// How the run was started.
    #[serde(default)]
    pub trigger: RunTrigger,
    /// When the Job started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Succeeded or Failed.
    pub outcome: RunOutcome,
    /// Items delivered (or fetched, for a failed run), as reported by the fetcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<i64>,
    /// Bytes fetched from the source, as reported by the fetcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Run time in seconds (from the fetcher's summary, else from the Job's start and completion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// What kind of failure ended the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
    /// Why the run failed, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Failure notification of this run.
    #[serde(default)]
    pub notification: NotificationState,
}
