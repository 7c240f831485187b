//! The contract between the operator and the pods it starts (the fetcher run and the failure notifier).
//!
//! How the spec reaches a run's pod:
//! - [`env::FETCH_PLAN`] holds the [`FetchPlan`] as JSON (source, sink, retry, checks; nothing secret);
//! - each credential is its own env var filled by the kubelet from a `secretKeyRef` (names in [`env`]);
//!   the operator never reads a Secret;
//! - [`env::RUN_ID`] is the Job's name (downward API), [`env::CLUSTER_FETCH`] is `<namespace>/<name>`.
//!
//! How a run reports back: the fetcher writes a [`RunSummary`] as JSON to its termination-message path
//! (`/dev/termination-log`, at most [`TERMINATION_MESSAGE_LIMIT`] bytes) and exits with
//! [`FailureClass::exit_code`] (0 on success). The operator reads it from the pod's terminated state.
//!
//! The HTTP sink protocol (one run = one staged import the receiver swaps in atomically), version 1, is
//! written down in `workloads/fetcher/receiver-protocol.openapi.yaml`:
//! `POST <url>/runs/<runId>/batches/<seq>` (seq from 0; body: a JSON array with one item per line,
//! `[item,\nitem,\n…]`, so a receiver may count or split items by lines) for each batch, then
//! `POST <url>/runs/<runId>/commit` with `{"items": N, "batches": B}`; on a failure before the commit,
//! `POST <url>/runs/<runId>/abort`. A receiver must not expose a run's items before its commit; a commit
//! repeated after it was applied answers success; no abort follows a commit request.
//!
//! Failure notifications are sent by a short notifier pod the operator starts once per failed run
//! (see [`Notification`]): it alone gets the webhook Secret, through `secretKeyRef`.

use serde::{Deserialize, Serialize};

use crate::clusterfetch::{Checks, NotifyFormat, RetryPolicy, RunTrigger, Sink, Source};

/// What every message and notification of a [`FailureClass::CommitUnknown`] run says.
pub const RECEIVER_MAY_HOLD_LIST: &str = "the receiver may hold this list: check it";

/// Largest termination message the kubelet keeps, in bytes.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// Names of the environment variables of the contract.
pub mod env {
    /// JSON [`super::FetchPlan`].
    pub const FETCH_PLAN: &str = "MICROFLEET_FETCH_PLAN";
    /// The run id: the name of the run's Job.
    pub const RUN_ID: &str = "MICROFLEET_RUN_ID";
    /// `<namespace>/<name>` of the ClusterFetch.
    pub const CLUSTER_FETCH: &str = "MICROFLEET_CLUSTER_FETCH";
    /// Where the run summary is written.
    pub const TERMINATION_LOG: &str = "MICROFLEET_TERMINATION_LOG";
    /// Optional Prometheus Pushgateway base URL the fetcher pushes its run metrics to.
    pub const PUSHGATEWAY_URL: &str = "MICROFLEET_PUSHGATEWAY_URL";
    /// Log format: `json` (in pods) or `text`.
    pub const LOG_FORMAT: &str = "MICROFLEET_LOG_FORMAT";
    /// Source bearer token (from a Secret).
    pub const SOURCE_BEARER_TOKEN: &str = "MICROFLEET_SOURCE_BEARER_TOKEN";
    /// Source basic-auth user name (from a Secret).
    pub const SOURCE_BASIC_USERNAME: &str = "MICROFLEET_SOURCE_BASIC_USERNAME";
    /// Source basic-auth password (from a Secret).
    pub const SOURCE_BASIC_PASSWORD: &str = "MICROFLEET_SOURCE_BASIC_PASSWORD";
    /// Source API key (from a Secret).
    pub const SOURCE_API_KEY: &str = "MICROFLEET_SOURCE_API_KEY";
    /// Sink bearer token (from a Secret).
    pub const SINK_BEARER_TOKEN: &str = "MICROFLEET_SINK_BEARER_TOKEN";
    /// Sink basic-auth user name (from a Secret).
    pub const SINK_BASIC_USERNAME: &str = "MICROFLEET_SINK_BASIC_USERNAME";
    /// Sink basic-auth password (from a Secret).
    pub const SINK_BASIC_PASSWORD: &str = "MICROFLEET_SINK_BASIC_PASSWORD";
    /// Sink API key (from a Secret).
    pub const SINK_API_KEY: &str = "MICROFLEET_SINK_API_KEY";
    /// Kafka sink SASL user name (from a Secret).
    pub const SINK_KAFKA_SASL_USERNAME: &str = "MICROFLEET_SINK_KAFKA_SASL_USERNAME";
    /// Kafka sink SASL password (from a Secret).
    pub const SINK_KAFKA_SASL_PASSWORD: &str = "MICROFLEET_SINK_KAFKA_SASL_PASSWORD";
    /// Kafka sink CA certificate(s), PEM (from a Secret).
    pub const SINK_KAFKA_CA_PEM: &str = "MICROFLEET_SINK_KAFKA_CA_PEM";
    /// The item count of the last successful run, set only when `checks.maxDropPercent` is (the drop guard).
    pub const LAST_SUCCESS_ITEMS: &str = "MICROFLEET_LAST_SUCCESS_ITEMS";
    /// JSON [`super::Notification`] (notifier pod only).
    pub const NOTIFICATION: &str = "MICROFLEET_NOTIFICATION";
    /// Webhook URL (notifier pod only, from a Secret).
    pub const NOTIFY_WEBHOOK_URL: &str = "MICROFLEET_NOTIFY_WEBHOOK_URL";
    /// `generic` or `slack` (notifier pod only).
    pub const NOTIFY_FORMAT: &str = "MICROFLEET_NOTIFY_FORMAT";
}

/// Everything a run needs from the spec, as the pod receives it in [`env::FETCH_PLAN`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FetchPlan {
    /// Where the list comes from.
    pub source: Source,
    /// Where it goes.
    pub sink: Sink,
    /// Retries of transient faults.
    pub retry: RetryPolicy,
    /// Checks on the list.
    pub checks: Checks,
}

/// What kind of failure ended a run. `Config` to `Internal` and `CommitUnknown` are reported by the fetcher
/// itself; the others are observed by the operator when the pod could not report (killed, never started,
/// deadline).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// The plan or the environment is unusable (bad plan JSON, missing credential).
    Config,
    /// The source could not be fetched or parsed, after retries.
    Source,
    /// The sink refused or failed the delivery, after retries; the staged run was aborted.
    Sink,
    /// The list failed a check (min/max items, required fields, item size, the source's total, the drop
    /// guard).
    Checks,
    /// The run was stopped (SIGTERM) and aborted.
    Interrupted,
    /// A bug or an unexpected state in the fetcher.
    Internal,
    /// The container was killed for using more memory than its limit.
    OutOfMemory,
    /// The run took longer than spec.activeDeadlineSeconds.
    DeadlineExceeded,
    /// The image could not be pulled.
    ImagePull,
    /// The pod could not be scheduled.
    Unschedulable,
    /// The pod failed without a summary (crash, eviction, lost node).
    Crashed,
    /// The commit was sent but never answered (timed out, connection dropped): the receiver may hold the
    /// list. The run was not aborted; someone must check the receiver.
    CommitUnknown,
}

impl FailureClass {
    /// Every class, in declaration order.
    pub const ALL: [FailureClass; 12] = [
        FailureClass::Config,
        FailureClass::Source,
        FailureClass::Sink,
        FailureClass::Checks,
        FailureClass::Interrupted,
        FailureClass::Internal,
        FailureClass::OutOfMemory,
        FailureClass::DeadlineExceeded,
        FailureClass::ImagePull,
        FailureClass::Unschedulable,
        FailureClass::Crashed,
        FailureClass::CommitUnknown,
    ];

    /// Exit code of the fetcher for this class (only the classes the fetcher reports itself have one).
    pub fn exit_code(self) -> i32 {
        match self {
            FailureClass::Internal => 1,
            FailureClass::Config => 3,
            FailureClass::Source => 4,
            FailureClass::Sink => 5,
            FailureClass::Checks => 6,
            FailureClass::Interrupted => 7,
            FailureClass::CommitUnknown => 8,
            FailureClass::OutOfMemory
            | FailureClass::DeadlineExceeded
            | FailureClass::ImagePull
            | FailureClass::Unschedulable
            | FailureClass::Crashed => 1,
        }
    }

    /// The class a fetcher exit code stands for, when the summary itself was lost.
    pub fn from_exit_code(code: i32) -> Option<FailureClass> {
        match code {
            3 => Some(FailureClass::Config),
            4 => Some(FailureClass::Source),
            5 => Some(FailureClass::Sink),
            6 => Some(FailureClass::Checks),
            7 => Some(FailureClass::Interrupted),
            8 => Some(FailureClass::CommitUnknown),
            _ => None,
        }
    }
}

/// A run's own account of itself, written as JSON to the termination-message path.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// The run id (Job name).
    pub run_id: String,
    /// True when the list was committed to the sink.
    pub succeeded: bool,
    /// What failed, when the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<FailureClass>,
    /// Why, in one line; never holds a secret or a URL with credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Items fetched (and delivered, on success).
    pub items: i64,
    /// Bytes read from the source.
    pub bytes: i64,
    /// Pages read from the source.
    pub pages: i64,
    /// HTTP requests made (source and sink), retries included.
    #[serde(default)]
    pub requests: i64,
    /// Of those, the retries of a failed request.
    #[serde(default)]
    pub retries: i64,
    /// Wall time of the run in seconds.
    pub duration_seconds: f64,
}

impl RunSummary {
    /// JSON that fits the kubelet's termination-message limit (the message is shortened if need be).
    pub fn to_termination_message(&self) -> String {
        let mut summary = self.clone();
        loop {
            let json = serde_json::to_string(&summary).unwrap_or_default();
            let Some(message) = summary.message.as_mut().filter(|_| json.len() > TERMINATION_MESSAGE_LIMIT) else {
                return json;
            };
            let keep = message.len().saturating_sub(json.len() - TERMINATION_MESSAGE_LIMIT + 3);
            let mut cut = keep;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...");
        }
    }

    /// Reads a summary from a termination message; `None` when the message is not one.
    pub fn from_termination_message(message: &str) -> Option<RunSummary> {
        serde_json::from_str(message.trim()).ok()
    }
}

/// The failure notification of one run: what the notifier pod sends to the webhook.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Namespace of the ClusterFetch.
    pub namespace: String,
    /// Name of the ClusterFetch.
    pub cluster_fetch: String,
    /// The failed run (Job name); receivers may use it to drop a repeated delivery.
    pub run_id: String,
    /// How the run was started.
    pub trigger: RunTrigger,
    /// What kind of failure.
    pub failure_class: FailureClass,
    /// Why, in one line.
    pub message: String,
    /// Failed runs in a row, this one included.
    pub consecutive_failures: i32,
    /// When the run started (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the run ended (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
}

impl Notification {
    /// One human-readable line, as chat messages show it.
    pub fn text(&self) -> String {
        let (verdict, hint) = match self.failure_class {
            FailureClass::CommitUnknown if !self.message.contains(RECEIVER_MAY_HOLD_LIST) => {
                ("did not learn whether its list was committed", format!(": {RECEIVER_MAY_HOLD_LIST}"))
            }
            FailureClass::CommitUnknown => ("did not learn whether its list was committed", String::new()),
            _ => ("failed", String::new()),
        };
        format!(
            "ClusterFetch {}/{} run {} {verdict} ({:?}): {}{hint} [{} failure(s) in a row]",
            self.namespace,
            self.cluster_fetch,
            self.run_id,
            self.failure_class,
            self.message,
            self.consecutive_failures
        )
    }

    /// The request body for a webhook of the given format.
    pub fn body(&self, format: NotifyFormat) -> serde_json::Value {
        match format {
            NotifyFormat::Generic => {
                serde_json::json!({ "event": "ClusterFetchRunFailed", "text": self.text(), "run": self })
            }
            NotifyFormat::Slack => serde_json::json!({ "text": self.text() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(message: String) -> RunSummary {
        RunSummary {
            run_id: "promo-users-29000000".into(),
            succeeded: false,
            failure_class: Some(FailureClass::Source),
            message: Some(message),
            items: 10,
            bytes: 400,
            pages: 1,
            requests: 5,
            retries: 4,
            duration_seconds: 1.5,
        }
    }

    #[test]
    fn the_summary_fits_the_termination_message_and_reads_back() {
        for len in [0, 100, 4000, 10_000] {
            let original = summary("é".repeat(len));
            let text = original.to_termination_message();
            assert!(text.len() <= TERMINATION_MESSAGE_LIMIT, "{len}: {} bytes", text.len());
            let back = RunSummary::from_termination_message(&text).unwrap();
            assert_eq!(back.items, 10);
            assert_eq!(back.failure_class, Some(FailureClass::Source));
            if len <= 100 {
                assert_eq!(back, original);
            } else {
                assert!(back.message.unwrap().ends_with("..."));
            }
        }
        assert_eq!(RunSummary::from_termination_message("panicked at main.rs"), None);
    }

    #[test]
    fn a_commit_unknown_notification_says_the_receiver_may_hold_the_list() {
        let notification = |class, message: &str| Notification {
            namespace: "promo".into(),
            cluster_fetch: "users".into(),
            run_id: "users-1".into(),
            trigger: RunTrigger::Scheduled,
            failure_class: class,
            message: message.into(),
            consecutive_failures: 1,
            start_time: None,
            completion_time: None,
        };
        let cases = [
            (FailureClass::CommitUnknown, "exited with code 8 without a summary", true),
            (FailureClass::CommitUnknown, "sink commit: timed out; the receiver may hold this list: check it", true),
            (FailureClass::Sink, "sink commit: HTTP 500", false),
        ];
        for (class, message, hint) in cases {
            let text = notification(class, message).text();
            assert_eq!(text.matches(RECEIVER_MAY_HOLD_LIST).count(), usize::from(hint), "{text}");
            assert_eq!(text.contains(" failed ("), !hint, "{text}");
        }
    }

    #[test]
    fn exit_codes_are_distinct_per_reported_class_and_read_back() {
        let reported = [
            FailureClass::Config,
            FailureClass::Source,
            FailureClass::Sink,
            FailureClass::Checks,
            FailureClass::Interrupted,
            FailureClass::CommitUnknown,
        ];
        let codes: std::collections::BTreeSet<_> = reported.iter().map(|c| c.exit_code()).collect();
        assert_eq!(codes.len(), reported.len());
        assert!(!codes.contains(&0));
        for class in reported {
            assert_eq!(FailureClass::from_exit_code(class.exit_code()), Some(class));
        }
    }
}
