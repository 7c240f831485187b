//! Status: derives a TicketingService's status from its observed children, the rollout plan and the
//! reconcile's verdict — per component the desired, ready and updated replicas and the migration, the
//! topics, the entry, and the kstatus conditions (`Ready`, `Reconciling`, `Stalled`).
//!
//! Pure: values in (the time included), the status out. No client and no clock.

use jiff::Timestamp;
use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job};
use kube::runtime::events::EventType;
use microfleet_crds::ticketingservice::{
    ComponentStatus, EntryStatus, MigrationState, MigrationStatus, TicketingService, TicketingServiceStatus,
    TopicsMethod, TopicsState, TopicsStatus,
};
use serde_json::Value;

use super::{
    component::ComponentKind,
    discovery::Discovered,
    entry::{entry_url, uses_http_route},
    rollout::{deployed_image, job_state, Observed, Plan},
    topics::{topic_names, topics_job_name, uses_kafka_topics},
    validate::SpecProblem,
    workload::migration_job_name,
};
use crate::conditions::{set_condition, shorten};

/// What this reconcile managed to do with the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The spec is valid and the children are applied.
    Applied,
    /// The spec has problems only a change (of the spec, or of what is installed) can fix.
    Invalid(Vec<SpecProblem>),
    /// Applying failed for a reason that may pass (it will be retried).
    Retrying(String),
}

/// Computes the status of `ts`.
pub fn derive_status(
    ts: &TicketingService,
    discovered: &Discovered,
    observed: &Observed,
    plan: &Plan,
    verdict: &Verdict,
    now: Timestamp,
) -> TicketingServiceStatus {
    let previous = ts.status.clone().unwrap_or_default();
    let components: Vec<ComponentStatus> =
        ComponentKind::ALL.into_iter().map(|kind| component_status(ts, kind, observed, plan)).collect();
    let ready_count = ComponentKind::ALL
        .into_iter()
        .filter(|kind| {
            let step = plan.component(*kind);
            observed.component(*kind).deployment.as_ref().is_some_and(|d| rolled_out(d, &step.desired_image))
        })
        .count();
    let topics = topics_status(ts, discovered, observed);
    let entry = entry_status(ts, discovered, observed);

    let mut waiting: Vec<String> = Vec::new();
    let mut stalled: Vec<(&'static str, String)> = Vec::new();
    for (kind, status) in ComponentKind::ALL.into_iter().zip(&components) {
        let field = kind.field();
        match status.migration.state {
            MigrationState::Failed => stalled.push((
                "MigrationFailed",
                format!(
                    "{field}: migration Job {} failed; the Deployment stays on its previous image (fix the cause, then delete the Job to retry, or change spec.{field}.image)",
                    status.migration.job_name.clone().unwrap_or_default()
                ),
            )),
            MigrationState::Pending | MigrationState::Running => {
                waiting.push(format!("{field}: migration {}", format!("{:?}", status.migration.state).to_lowercase()))
            }
            MigrationState::Succeeded => {}
        }
        let rolled = observed
            .component(kind)
            .deployment
            .as_ref()
            .is_some_and(|d| rolled_out(d, &plan.component(kind).desired_image));
        if !rolled && status.migration.state == MigrationState::Succeeded {
            waiting.push(format!("{field}: {}/{} ready", status.ready_replicas, status.desired_replicas));
        }
    }
    match topics.state {
        TopicsState::Failed => stalled
            .push(("TopicsFailed", topics.message.clone().unwrap_or_else(|| "creating the topics failed".into()))),
        TopicsState::Pending => waiting.push(format!("topics: {}/{}", topics.ready, topics.total)),
        TopicsState::Ready => {}
    }

    let (ready, reconciling, stalled_condition) = match verdict {
        Verdict::Invalid(problems) => {
            let reason = problems.first().map_or("InvalidSpec", |p| p.reason);
            let message = problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            (
                ("False", reason, message.clone()),
                ("False", reason, "waiting for a change".to_string()),
                ("True", reason, message),
            )
        }
        Verdict::Retrying(message) => (
            ("False", "ApplyFailed", message.clone()),
            ("True", "Retrying", message.clone()),
            ("False", "Retrying", "the error may pass; retrying with backoff".to_string()),
        ),
        Verdict::Applied if !stalled.is_empty() => {
            let reason = stalled[0].0;
            let message = stalled.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; ");
            (
                ("False", reason, message.clone()),
                ("False", reason, "waiting for an intervention".to_string()),
                ("True", reason, message),
            )
        }
        Verdict::Applied if !waiting.is_empty() => {
            let message = format!("waiting for {}", waiting.join(", "));
            (
                ("False", "Progressing", message.clone()),
                ("True", "Progressing", message),
                ("False", "Progressing", "nothing is stuck".to_string()),
            )
        }
        Verdict::Applied => (
            ("True", "Available", format!("all four components serve; the entry is {}", entry.url)),
            ("False", "Reconciled", "the spec is applied and rolled out".to_string()),
            ("False", "Reconciled", "the spec is applied and rolled out".to_string()),
        ),
    };
    let generation = ts.metadata.generation;
    let mut conditions = previous.conditions;
    for (type_, (status, reason, message)) in
        [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled_condition)]
    {
        set_condition(&mut conditions, type_, status, reason, &message, generation, now);
    }
    TicketingServiceStatus {
        observed_generation: generation,
        conditions,
        ready_components: Some(format!("{ready_count}/{}", ComponentKind::ALL.len())),
        components,
        topics: Some(topics),
        entry: Some(entry),
    }
}

/// An Event a transition calls for: (type, reason, note).
pub type TransitionEvent = (EventType, String, String);

/// The Events of the transitions from `previous` to `current`: the Ready condition turning True or False
/// (Stalled with its reason), each migration starting, succeeding or failing, the topics becoming ready, the
/// entry getting an address.
pub fn transition_events(
    previous: Option<&TicketingServiceStatus>,
    current: &TicketingServiceStatus,
) -> Vec<TransitionEvent> {
    let condition = |status: Option<&TicketingServiceStatus>, type_: &str| {
        status
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let mut events = Vec::new();
    let (was_ready, is_ready) = (condition(previous, "Ready"), condition(Some(current), "Ready"));
    let (was_stalled, is_stalled) = (condition(previous, "Stalled"), condition(Some(current), "Stalled"));
    if let Some((status, _, message)) = &is_ready {
        let changed = was_ready.as_ref().map(|(s, _, _)| s) != Some(status);
        if changed && status == "True" {
            events.push((EventType::Normal, "Ready".to_string(), message.clone()));
        }
    }
    if let Some((status, reason, message)) = &is_stalled {
        let changed = was_stalled.as_ref().map(|(s, r, _)| (s, r)) != Some((status, reason));
        if changed && status == "True" {
            events.push((EventType::Warning, reason.clone(), message.clone()));
        }
    }
    for component in &current.components {
        let before = previous
            .and_then(|p| p.components.iter().find(|c| c.name == component.name))
            .map(|c| (c.migration.state, c.migration.job_name.clone()));
        let now = (component.migration.state, component.migration.job_name.clone());
        if before.as_ref() == Some(&now) {
            continue;
        }
        let job = component.migration.job_name.clone().unwrap_or_default();
        let image = component.image.clone().unwrap_or_default();
        match component.migration.state {
            MigrationState::Running => events.push((
                EventType::Normal,
                "MigrationStarted".into(),
                format!("{}: migration Job {job} runs for {image}", component.name),
            )),
            MigrationState::Succeeded => events.push((
                EventType::Normal,
                "MigrationSucceeded".into(),
                format!("{}: migration Job {job} completed; the Deployment rolls to {image}", component.name),
            )),
            MigrationState::Failed => events.push((
                EventType::Warning,
                "MigrationFailed".into(),
                format!(
                    "{}: migration Job {job} failed ({}); the Deployment stays on its previous image",
                    component.name,
                    component.migration.message.clone().unwrap_or_default()
                ),
            )),
            MigrationState::Pending => {}
        }
    }
    let topics_ready = |s: Option<&TicketingServiceStatus>| {
        s.and_then(|s| s.topics.as_ref()).map(|t| t.state) == Some(TopicsState::Ready)
    };
    if topics_ready(Some(current)) && !topics_ready(previous) {
        let total = current.topics.as_ref().map_or(0, |t| t.total);
        events.push((EventType::Normal, "TopicsReady".into(), format!("the saga's {total} topics exist")));
    }
    let address = |s: Option<&TicketingServiceStatus>| s.and_then(|s| s.entry.as_ref()).and_then(|e| e.address.clone());
    if let (Some(address), None) = (address(Some(current)), address(previous)) {
        let url = current.entry.as_ref().map(|e| e.url.clone()).unwrap_or_default();
        events.push((EventType::Normal, "EntryAddressAssigned".into(), format!("{url} is served at {address}")));
    }
    events
}

/// Whether a Deployment runs `image` and is fully rolled out and available (kstatus' Current).
pub fn rolled_out(deployment: &Deployment, image: &str) -> bool {
    let Some(status) = &deployment.status else { return false };
    let wanted = deployment.spec.as_ref().and_then(|s| s.replicas).or(status.replicas).unwrap_or(1);
    let caught_up = match (status.observed_generation, deployment.metadata.generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        _ => false,
    };
    caught_up
        && deployed_image(deployment).as_deref() == Some(image)
        && status.updated_replicas.unwrap_or(0) >= wanted
        && status.available_replicas.unwrap_or(0) >= wanted
        && status.ready_replicas.unwrap_or(0) >= wanted
        && status.replicas.unwrap_or(0) <= wanted
}

fn component_status(ts: &TicketingService, kind: ComponentKind, observed: &Observed, plan: &Plan) -> ComponentStatus {
    let step = plan.component(kind);
    let seen = observed.component(kind);
    let deployment_status = seen.deployment.as_ref().and_then(|d| d.status.clone()).unwrap_or_default();
    let desired = seen
        .deployment
        .as_ref()
        .and_then(|d| d.spec.as_ref().and_then(|s| s.replicas))
        .or(deployment_status.replicas)
        .unwrap_or(0);
    let job_name = migration_job_name(ts, kind, &step.desired_image);
    let migration_message = match job_state(seen.migration.as_ref()) {
        MigrationState::Pending if !step.database_ready => Some("waiting for the database to serve".to_string()),
        MigrationState::Failed => seen.migration.as_ref().and_then(failure_message),
        _ => None,
    };
    let database = match &kind.spec(&ts.spec).database.url_secret_key_ref {
        Some(secret) => format!("Secret {}/{}", secret.name, secret.key),
        None if step.database_ready => "CloudNativePG: ready".to_string(),
        None => "CloudNativePG: provisioning".to_string(),
    };
    ComponentStatus {
        name: kind.field().into(),
        image: Some(step.desired_image.clone()),
        desired_replicas: desired,
        ready_replicas: deployment_status.ready_replicas.unwrap_or(0),
        updated_replicas: deployment_status.updated_replicas.unwrap_or(0),
        migration: MigrationStatus {
            state: step.migration,
            job_name: Some(job_name),
            message: migration_message.map(|m| shorten(&m)),
        },
        database: Some(database),
    }
}

fn failure_message(job: &Job) -> Option<String> {
    let condition = job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Failed")?;
    Some(format!("{}: {}", condition.reason.clone().unwrap_or_default(), condition.message.clone().unwrap_or_default()))
}

fn topics_status(ts: &TicketingService, discovered: &Discovered, observed: &Observed) -> TopicsStatus {
    let total = i32::try_from(topic_names(ts).len()).unwrap_or(i32::MAX);
    if uses_kafka_topics(ts, discovered) {
        let ready = observed.kafka_topics.iter().filter(|topic| condition_true(topic, "Ready")).count();
        let ready = i32::try_from(ready).unwrap_or(i32::MAX);
        let not_ready: Vec<String> = observed
            .kafka_topics
            .iter()
            .filter(|topic| condition_is(topic, "Ready", "False"))
            .filter_map(|topic| topic.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
            .collect();
        return TopicsStatus {
            method: TopicsMethod::KafkaTopic,
            state: if ready >= total { TopicsState::Ready } else { TopicsState::Pending },
            ready,
            total,
            message: (!not_ready.is_empty()).then(|| format!("KafkaTopics not ready: {}", not_ready.join(", "))),
        };
    }
    let job = observed.topics_job.as_ref();
    let (state, ready, message) = match job_state(job) {
        MigrationState::Succeeded => (TopicsState::Ready, total, None),
        MigrationState::Failed => (
            TopicsState::Failed,
            0,
            Some(format!(
                "topic Job {} failed ({}): check spec.kafka and the Job's logs",
                topics_job_name(ts),
                job.and_then(failure_message).unwrap_or_default()
            )),
        ),
        MigrationState::Pending | MigrationState::Running => (TopicsState::Pending, 0, None),
    };
    TopicsStatus { method: TopicsMethod::Job, state, ready, total, message: message.map(|m| shorten(&m)) }
}

fn entry_status(ts: &TicketingService, discovered: &Discovered, observed: &Observed) -> EntryStatus {
    if uses_http_route(ts, discovered) {
        let accepted = observed.route.as_ref().is_some_and(|route| {
            route.pointer("/status/parents").and_then(Value::as_array).is_some_and(|parents| {
                !parents.is_empty() && parents.iter().all(|parent| condition_true(parent, "Accepted"))
            })
        });
        return EntryStatus { kind: "HTTPRoute".into(), url: entry_url(ts), address: None, ready: accepted };
    }
    let address = observed
        .ingress
        .as_ref()
        .and_then(|ingress| ingress.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?.first().cloned())
        .and_then(|lb| lb.ip.or(lb.hostname));
    EntryStatus { kind: "Ingress".into(), url: entry_url(ts), ready: address.is_some(), address }
}

fn condition_true(object: &Value, type_: &str) -> bool {
    condition_is(object, type_, "True")
}

fn condition_is(object: &Value, type_: &str, status: &str) -> bool {
    object
        .pointer("/status/conditions")
        .or_else(|| object.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == type_ && c["status"] == status))
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
