//! What the runner knows about a pod's containers, and the pod status derived from it (phase, conditions,
//! container statuses) as the kubelet derives it. Pure: writing the status is `pod.rs`'s job.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

/// A container's current state.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running: being created, or backing off (`reason` is the kubelet's, e.g. `ErrImagePull`).
    Waiting {
        /// The kubelet's reason.
        reason: String,
        /// Details.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When the process started.
        started_at: Timestamp,
    },
    /// Exited.
    Terminated(Termination),
}

/// How a container run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Termination {
    /// Exit code (128 + signal when killed by one).
    pub exit_code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`.
    pub reason: String,
    /// The termination message.
    pub message: Option<String>,
    /// When the process started (none when it never did).
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Timestamp,
    /// `microfleet://<pid>`.
    pub container_id: Option<String>,
}

/// Everything the runner reports about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRecord {
    /// Container name.
    pub name: String,
    /// Image reference from the spec.
    pub image: String,
    /// `microfleet://<binary>` once the image resolved.
    pub image_id: String,
    /// Current state.
    pub state: State,
    /// The previous run's end, once it restarted.
    pub last_termination: Option<Termination>,
    /// Restarts so far.
    pub restart_count: i32,
    /// Passing its readiness probe (or running without one).
    pub ready: bool,
    /// Started and past its startup probe.
    pub started: bool,
    /// The current (or last) process, `microfleet://<pid>`.
    pub container_id: Option<String>,
}

impl ContainerRecord {
    /// A container that is being created.
    pub fn new(name: &str, image: &str) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            state: waiting("ContainerCreating", None),
            last_termination: None,
            restart_count: 0,
            ready: false,
            started: false,
            container_id: None,
        }
    }

    /// The API's view of this record.
    pub fn to_status(&self) -> ContainerStatus {
        ContainerStatus {
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone(),
            ready: self.ready,
            started: Some(self.started),
            restart_count: self.restart_count,
            container_id: self.container_id.clone(),
            state: Some(container_state(&self.state)),
            last_state: Some(
                self.last_termination
                    .as_ref()
                    .map(|t| container_state(&State::Terminated(t.clone())))
                    .unwrap_or_default(),
            ),
            ..ContainerStatus::default()
        }
    }
}

/// A waiting state.
pub fn waiting(reason: &str, message: Option<String>) -> State {
    State::Waiting { reason: reason.to_string(), message }
}

fn container_state(state: &State) -> ContainerState {
    match state {
        State::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..ContainerState::default()
        },
        State::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(*started_at)) }),
            ..ContainerState::default()
        },
        State::Terminated(t) => ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: t.exit_code,
                signal: t.signal,
                reason: Some(t.reason.clone()),
                message: t.message.clone(),
                started_at: t.started_at.map(Time),
                finished_at: Some(Time(t.finished_at)),
                container_id: t.container_id.clone(),
            }),
            ..ContainerState::default()
        },
    }
}

/// Whether a container that ended with `exit_code` runs again under the pod's restart policy.
pub fn restarts(restart_policy: &str, exit_code: i32) -> bool {
    match restart_policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// The restart policy of init containers: they restart on failure unless the pod's policy is Never.
pub fn init_restart_policy(restart_policy: &str) -> &'static str {
    if restart_policy == "Never" {
        "Never"
    } else {
        "OnFailure"
    }
}

/// Whether every init container has succeeded.
pub fn initialized(init_records: &[ContainerRecord]) -> bool {
    init_records.iter().all(|r| matches!(&r.state, State::Terminated(t) if t.exit_code == 0))
}

/// The pod phase the kubelet derives from its containers.
pub fn phase(restart_policy: &str, records: &[ContainerRecord]) -> &'static str {
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for record in records {
        match &record.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            // backing off before a restart counts as stopped, never having run as waiting
            State::Waiting { .. } if record.last_termination.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }
    if waiting > 0 || records.is_empty() {
        "Pending"
    } else if running > 0 || restart_policy == "Always" {
        // running, or restarting (Always restarts whatever the exit code)
        "Running"
    } else if stopped == succeeded {
        "Succeeded"
    } else if restart_policy == "OnFailure" {
        "Running"
    } else {
        "Failed"
    }
}

/// A pod-level failure that overrides the containers' verdict (e.g. `DeadlineExceeded`).
#[derive(Debug, Clone, PartialEq)]
pub struct PodFailure {
    /// The reason, e.g. `DeadlineExceeded`.
    pub reason: String,
    /// The message.
    pub message: String,
}

/// Everything the pod's status is derived from.
#[derive(Debug, Clone)]
pub struct PodFacts<'a> {
    /// The pod's restart policy.
    pub restart_policy: &'a str,
    /// Its init containers, in spec order.
    pub init_records: &'a [ContainerRecord],
    /// Its containers, in spec order.
    pub records: &'a [ContainerRecord],
    /// A pod-level failure, if any.
    pub failure: Option<&'a PodFailure>,
    /// When the runner accepted the pod.
    pub start_time: Timestamp,
    /// The node's IP.
    pub host_ip: &'a str,
    /// The pod's IP (the node's on the host network).
    pub pod_ip: &'a str,
    /// The conditions the pod has now (others' are kept, ours keep their transition times).
    pub previous: &'a [PodCondition],
    /// The time to stamp changed conditions with.
    pub now: Timestamp,
}

/// The conditions this runner owns (any other, like the scheduler's PodScheduled, is left as it is).
const OWNED: [&str; 3] = ["Initialized", "Ready", "ContainersReady"];

/// The phase of a pod given its facts: an init container that failed for good fails the pod; until they
/// all succeeded it is Pending.
pub fn pod_phase(facts: &PodFacts) -> &'static str {
    let init_failed = facts.init_records.iter().any(|r| {
        matches!(&r.state, State::Terminated(t)
            if t.exit_code != 0 && !restarts(init_restart_policy(facts.restart_policy), t.exit_code))
    });
    if facts.failure.is_some() || init_failed {
        "Failed"
    } else if !initialized(facts.init_records) {
        "Pending"
    } else {
        phase(facts.restart_policy, facts.records)
    }
}

/// The body of a JSON merge patch of the pods/status subresource.
pub fn status_patch(facts: &PodFacts) -> Value {
    let phase = pod_phase(facts);
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let unready: Vec<&str> = facts.records.iter().filter(|r| !r.ready).map(|r| r.name.as_str()).collect();
    let (ready_status, reason, message) = if terminal {
        ("False", Some("PodCompleted"), None)
    } else if unready.is_empty() {
        ("True", None, None)
    } else {
        ("False", Some("ContainersNotReady"), Some(format!("containers with unready status: [{}]", unready.join(" "))))
    };
    let incomplete: Vec<&str> = facts
        .init_records
        .iter()
        .filter(|r| !matches!(&r.state, State::Terminated(t) if t.exit_code == 0))
        .map(|r| r.name.as_str())
        .collect();
    let initialized = if incomplete.is_empty() {
        condition(facts, "Initialized", "True", None, None)
    } else {
        let message = format!("containers with incomplete status: [{}]", incomplete.join(" "));
        condition(facts, "Initialized", "False", Some("ContainersNotInitialized"), Some(message))
    };
    let mut conditions = vec![
        initialized,
        condition(facts, "Ready", ready_status, reason, message.clone()),
        condition(facts, "ContainersReady", ready_status, reason, message),
    ];
    conditions.extend(facts.previous.iter().filter(|c| !OWNED.contains(&c.type_.as_str())).cloned());
    let statuses: Vec<ContainerStatus> = facts.records.iter().map(ContainerRecord::to_status).collect();
    let init_statuses: Vec<ContainerStatus> = facts.init_records.iter().map(ContainerRecord::to_status).collect();
    let host_ips = json!([{ "ip": facts.host_ip }]);
    let pod_ips = json!([{ "ip": facts.pod_ip }]);
    json!({
        "status": {
            "phase": phase,
            "reason": facts.failure.map(|f| f.reason.clone()),
            "message": facts.failure.map(|f| f.message.clone()),
            "startTime": Time(facts.start_time),
            "hostIP": facts.host_ip,
            "hostIPs": host_ips,
            "podIP": facts.pod_ip,
            "podIPs": pod_ips,
            "conditions": conditions,
            "containerStatuses": statuses,
            "initContainerStatuses": if init_statuses.is_empty() { None } else { Some(init_statuses) },
        }
    })
}

fn condition(
    facts: &PodFacts,
    type_: &str,
    status: &str,
    reason: Option<&str>,
    message: Option<String>,
) -> PodCondition {
    let previous = facts.previous.iter().find(|c| c.type_ == type_ && c.status == status);
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(previous.and_then(|c| c.last_transition_time.clone()).unwrap_or(Time(facts.now))),
        last_probe_time: None,
        observed_generation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap()
    }
    fn ended(code: i32) -> Termination {
        Termination {
            exit_code: code,
            signal: None,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: Some("bye".into()),
            started_at: Some(t(0)),
            finished_at: t(5),
            container_id: Some("microfleet://42".into()),
        }
    }
    fn record(state: State, last: Option<Termination>, ready: bool) -> ContainerRecord {
        ContainerRecord { state, last_termination: last, ready, ..ContainerRecord::new("c", "img:1") }
    }
    fn facts<'a>(records: &'a [ContainerRecord], previous: &'a [PodCondition]) -> PodFacts<'a> {
        PodFacts {
            restart_policy: "Never",
            init_records: &[],
            records,
            failure: None,
            start_time: t(0),
            host_ip: "127.0.0.1",
            pod_ip: "10.88.0.2",
            previous,
            now: t(9),
        }
    }

    #[test]
    fn phases_per_restart_policy() {
        let running = record(State::Running { started_at: t(0) }, None, true);
        let ok = record(State::Terminated(ended(0)), None, false);
        let failed = record(State::Terminated(ended(3)), None, false);
        let backing_off = record(waiting("CrashLoopBackOff", None), Some(ended(1)), false);
        let never_ran = record(waiting("ErrImagePull", None), None, false);
        assert_eq!(phase("Never", std::slice::from_ref(&ok)), "Succeeded");
        assert_eq!(phase("Never", &[ok.clone(), failed.clone()]), "Failed");
        assert_eq!(phase("Never", &[ok.clone(), running.clone()]), "Running");
        assert_eq!(phase("OnFailure", std::slice::from_ref(&failed)), "Running");
        assert_eq!(phase("OnFailure", std::slice::from_ref(&ok)), "Succeeded");
        assert_eq!(phase("Always", &[ok]), "Running");
        assert_eq!(phase("Always", &[backing_off]), "Running");
        assert_eq!(phase("Always", &[never_ran.clone(), running]), "Pending");
        assert_eq!(phase("Never", &[never_ran]), "Pending");
        assert!(
            restarts("Always", 0) && restarts("OnFailure", 1) && !restarts("OnFailure", 0) && !restarts("Never", 1)
        );
    }

    #[test]
    fn conditions_keep_others_and_transition_times() {
        let scheduled = PodCondition {
            type_: "PodScheduled".into(),
            status: "True".into(),
            last_transition_time: Some(Time(t(-5))),
            ..PodCondition::default()
        };
        let was_ready = PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(t(1))),
            ..PodCondition::default()
        };
        let records = [record(State::Running { started_at: t(0) }, None, true)];
        let previous = [scheduled, was_ready];
        let patch = status_patch(&facts(&records, &previous));
        let status = &patch["status"];
        assert_eq!(status["phase"], "Running");
        assert_eq!((&status["podIP"], &status["hostIP"]), (&json!("10.88.0.2"), &json!("127.0.0.1")));
        assert_eq!(status["podIPs"], json!([{"ip": "10.88.0.2"}]));
        assert_eq!(status["reason"], Value::Null);
        let conditions = status["conditions"].as_array().unwrap();
        let find = |ty: &str| conditions.iter().find(|c| c["type"] == ty).unwrap().clone();
        assert_eq!(find("Ready")["status"], "True");
        assert_eq!(find("Ready")["lastTransitionTime"], json!(Time(t(1))));
        assert_eq!(find("ContainersReady")["lastTransitionTime"], json!(Time(t(9))));
        assert_eq!(find("PodScheduled")["status"], "True");
        assert_eq!(status["containerStatuses"][0]["state"]["running"]["startedAt"], json!(Time(t(0))));
    }

    #[test]
    fn unready_and_terminal_pods() {
        let records = [record(State::Running { started_at: t(0) }, None, false)];
        let patch = status_patch(&facts(&records, &[]));
        let ready = &patch["status"]["conditions"][1];
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["message"], "containers with unready status: [c]");

        let records = [record(State::Terminated(ended(3)), None, false)];
        let patch = status_patch(&facts(&records, &[]));
        assert_eq!(patch["status"]["phase"], "Failed");
        assert_eq!(patch["status"]["conditions"][1]["reason"], "PodCompleted");
        let terminated = &patch["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(terminated["exitCode"], 3);
        assert_eq!(terminated["reason"], "Error");
        assert_eq!(terminated["message"], "bye");
        assert_eq!(terminated["containerID"], "microfleet://42");

        let init = [record(State::Terminated(ended(0)), None, false)];
        let records = [record(waiting("PodInitializing", None), None, false)];
        let mut f = facts(&records, &[]);
        f.init_records = &init;
        let patch = status_patch(&f);
        assert_eq!(patch["status"]["phase"], "Pending");
        assert_eq!(patch["status"]["conditions"][0]["status"], "True");
        assert_eq!(patch["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"], 0);

        let init = [record(State::Terminated(ended(1)), None, false)];
        f.init_records = &init;
        assert_eq!(pod_phase(&f), "Failed");
        let patch = status_patch(&f);
        assert_eq!(patch["status"]["conditions"][0]["reason"], "ContainersNotInitialized");
        assert_eq!(patch["status"]["conditions"][0]["message"], "containers with incomplete status: [c]");
        f.restart_policy = "OnFailure";
        let backing_off = [record(waiting("CrashLoopBackOff", None), Some(ended(1)), false)];
        f.init_records = &backing_off;
        assert_eq!(pod_phase(&f), "Pending");

        let failure = PodFailure { reason: "DeadlineExceeded".into(), message: "too long".into() };
        let records = [record(State::Running { started_at: t(0) }, None, true)];
        let mut f = facts(&records, &[]);
        f.failure = Some(&failure);
        let patch = status_patch(&f);
        assert_eq!(patch["status"]["phase"], "Failed");
        assert_eq!(patch["status"]["reason"], "DeadlineExceeded");
    }
}
