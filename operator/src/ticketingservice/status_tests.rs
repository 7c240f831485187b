//! Status derivation with plain values: observed children in, status and conditions out.

use jiff::Timestamp;
use k8s_openapi::api::networking::v1::{Ingress, IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressStatus};
use microfleet_crds::ticketingservice::{MigrationState, TicketingService, TopicsMethod, TopicsState};

use super::*;
use crate::ticketingservice::{
    build::BuildConfig,
    fixtures::{config, deployment, job, ticketing_service},
    rollout::plan_rollout,
    topics::topics_job_name,
};

fn now() -> Timestamp {
    "2026-12-02T03:00:00Z".parse().unwrap()
}

/// Every component migrated and rolled out with its replicas ready, except as `tweak` changes it.
fn observed_all_up(ts: &TicketingService, config: &BuildConfig) -> Observed {
    let mut observed = Observed::default();
    for kind in ComponentKind::ALL {
        let image = config.image(ts, kind);
        let seen = observed.component_mut(kind);
        seen.deployment = Some(deployment(ts, kind, &image, 2, 2));
        seen.migration = Some(job(&migration_job_name(ts, kind, &image), Some("Complete")));
    }
    observed.topics_job = Some(job(&topics_job_name(ts), Some("Complete")));
    observed
}

fn derive(ts: &TicketingService, observed: &Observed, verdict: &Verdict) -> TicketingServiceStatus {
    let plan = plan_rollout(ts, &Discovered::default(), observed, &config());
    derive_status(ts, &Discovered::default(), observed, &plan, verdict, now())
}

fn condition<'a>(status: &'a TicketingServiceStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

/// The example without its CloudNativePG database (a URL from a Secret instead), so nothing waits on it.
fn ts() -> TicketingService {
    let mut ts = ticketing_service();
    ts.spec.auth.database =
        serde_json::from_value(serde_json::json!({"urlSecretKeyRef": {"name": "auth-db", "key": "url"}})).unwrap();
    ts
}

#[test]
fn all_rolled_out_is_ready_with_every_count() {
    let ts = ts();
    let status = derive(&ts, &observed_all_up(&ts, &config()), &Verdict::Applied);
    assert_eq!(condition(&status, "Ready").0, "True");
    assert_eq!(condition(&status, "Reconciling").0, "False");
    assert_eq!(condition(&status, "Stalled").0, "False");
    assert_eq!(status.ready_components.as_deref(), Some("4/4"));
    assert_eq!(status.observed_generation, Some(1));
    let gate = &status.components[1];
    assert_eq!(
        (gate.name.as_str(), gate.desired_replicas, gate.ready_replicas, gate.updated_replicas),
        ("gateAcl", 2, 2, 2)
    );
    assert_eq!(gate.migration.state, MigrationState::Succeeded);
    let topics = status.topics.unwrap();
    assert_eq!(
        (topics.method, topics.state, topics.ready, topics.total),
        (TopicsMethod::Job, TopicsState::Ready, 8, 8)
    );
    let entry = status.entry.unwrap();
    assert_eq!(
        (entry.kind.as_str(), entry.url.as_str(), entry.ready),
        ("Ingress", "https://tickets.example.com/", false)
    );
}

#[test]
fn each_way_of_not_being_ready_says_why() {
    let ts = ts();
    let config = config();
    type Tweak = fn(&TicketingService, &BuildConfig, &mut Observed);
    let rows: [(&str, Tweak, &str, &str, &str, &str); 6] = [
        (
            "a pod not ready yet",
            |ts, c, o| {
                let image = c.image(ts, ComponentKind::GateAcl);
                o.component_mut(ComponentKind::GateAcl).deployment =
                    Some(deployment(ts, ComponentKind::GateAcl, &image, 2, 1));
            },
            "Progressing",
            "False",
            "gateAcl: 1/2 ready",
            "3/4",
        ),
        (
            "a migration running",
            |ts, c, o| {
                let image = c.image(ts, ComponentKind::Auth);
                o.component_mut(ComponentKind::Auth).migration =
                    Some(job(&migration_job_name(ts, ComponentKind::Auth, &image), None));
            },
            "Progressing",
            "False",
            "auth: migration running",
            "4/4",
        ),
        (
            "an upgrade migrating: the old version serves",
            |ts, _, o| {
                o.component_mut(ComponentKind::Ticketing).deployment =
                    Some(deployment(ts, ComponentKind::Ticketing, "old:1", 2, 2));
                o.component_mut(ComponentKind::Ticketing).migration = Some(job("x", None));
            },
            "Progressing",
            "False",
            "ticketing: migration running",
            "3/4",
        ),
        (
            "a migration failed",
            |ts, c, o| {
                let image = c.image(ts, ComponentKind::Cms);
                o.component_mut(ComponentKind::Cms).migration =
                    Some(job(&migration_job_name(ts, ComponentKind::Cms, &image), Some("Failed")));
            },
            "MigrationFailed",
            "True",
            "cms: migration Job tickets-cms-migrate-",
            "4/4",
        ),
        (
            "the topics being created",
            |_, _, o| o.topics_job = Some(job("t", None)),
            "Progressing",
            "False",
            "topics: 0/8",
            "4/4",
        ),
        (
            "the topic Job failed",
            |_, _, o| o.topics_job = Some(job("t", Some("Failed"))),
            "TopicsFailed",
            "True",
            "check spec.kafka",
            "4/4",
        ),
    ];
    for (case, tweak, reason, stalled, message, ready_components) in rows {
        let mut observed = observed_all_up(&ts, &config);
        tweak(&ts, &config, &mut observed);
        let status = derive(&ts, &observed, &Verdict::Applied);
        let (ready_status, ready_reason, ready_message) = condition(&status, "Ready");
        assert_eq!((ready_status, ready_reason), ("False", reason), "{case}");
        assert!(ready_message.contains(message), "{case}: {ready_message}");
        assert_eq!(condition(&status, "Stalled").0, stalled, "{case}");
        assert_eq!(condition(&status, "Reconciling").0, if stalled == "True" { "False" } else { "True" }, "{case}");
        assert_eq!(status.ready_components.as_deref(), Some(ready_components), "{case}");
    }
}

#[test]
fn an_invalid_spec_or_a_failed_apply_is_reported_as_such() {
    let ts = ts();
    let observed = observed_all_up(&ts, &config());
    let problem = SpecProblem {
        reason: "CloudNativePGMissing",
        field: "spec.auth.database.cloudNativePG".into(),
        message: "CloudNativePG is not installed".into(),
    };
    let status = derive(&ts, &observed, &Verdict::Invalid(vec![problem]));
    assert_eq!(condition(&status, "Stalled").0, "True");
    assert_eq!(condition(&status, "Ready").1, "CloudNativePGMissing");
    assert!(condition(&status, "Ready").2.contains("spec.auth.database.cloudNativePG"));
    let status = derive(&ts, &observed, &Verdict::Retrying("the API server timed out".into()));
    assert_eq!((condition(&status, "Reconciling").0, condition(&status, "Stalled").0), ("True", "False"));
    assert_eq!(condition(&status, "Ready").1, "ApplyFailed");
}

#[test]
fn kafka_topics_count_as_they_turn_ready_and_the_ingress_address_is_shown() {
    let ts = ts();
    let mut ts_strimzi = ts.clone();
    ts_strimzi.spec.kafka.strimzi_cluster = Some("events".into());
    let discovered = Discovered { strimzi_topics: true, ..Default::default() };
    let mut observed = observed_all_up(&ts_strimzi, &config());
    observed.kafka_topics = (0..8)
        .map(|i| {
            let status = if i < 5 { "True" } else { "False" };
            serde_json::json!({"metadata": {"name": format!("t{i}")}, "status": {"conditions": [{"type": "Ready", "status": status}]}})
        })
        .collect();
    observed.ingress = Some(Ingress {
        status: Some(IngressStatus {
            load_balancer: Some(IngressLoadBalancerStatus {
                ingress: Some(vec![IngressLoadBalancerIngress {
                    ip: Some("203.0.113.7".into()),
                    ..Default::default()
                }]),
            }),
        }),
        ..Default::default()
    });
    let plan = plan_rollout(&ts_strimzi, &discovered, &observed, &config());
    let status = derive_status(&ts_strimzi, &discovered, &observed, &plan, &Verdict::Applied, now());
    let topics = status.topics.clone().unwrap();
    assert_eq!((topics.method, topics.state, topics.ready), (TopicsMethod::KafkaTopic, TopicsState::Pending, 5));
    assert_eq!(topics.message.as_deref(), Some("KafkaTopics not ready: t5, t6, t7"));
    assert!(condition(&status, "Ready").2.contains("topics: 5/8"));
    let entry = status.entry.unwrap();
    assert_eq!((entry.address.as_deref(), entry.ready), (Some("203.0.113.7"), true));
}

#[test]
fn a_condition_keeps_its_transition_time_while_its_status_holds() {
    let mut ts = ts();
    let observed = observed_all_up(&ts, &config());
    let first = derive(&ts, &observed, &Verdict::Applied);
    ts.status = Some(first.clone());
    let plan = plan_rollout(&ts, &Discovered::default(), &observed, &config());
    let later = now().checked_add(jiff::SignedDuration::from_mins(5)).unwrap();
    let second = derive_status(&ts, &Discovered::default(), &observed, &plan, &Verdict::Applied, later);
    let time = |s: &TicketingServiceStatus| {
        s.conditions.iter().find(|c| c.type_ == "Ready").unwrap().last_transition_time.clone()
    };
    assert_eq!(time(&second), time(&first));
    assert_eq!(second, first, "nothing changed: the same status (no write)");
}

#[test]
fn each_transition_gets_one_event_and_a_repeat_none() {
    let ts = ts();
    let config = config();
    let mut migrating = observed_all_up(&ts, &config);
    let image = config.image(&ts, ComponentKind::Auth);
    let auth_job = migration_job_name(&ts, ComponentKind::Auth, &image);
    migrating.component_mut(ComponentKind::Auth).migration = Some(job(&auth_job, None));
    let first = derive(&ts, &migrating, &Verdict::Applied);
    let reasons = |events: Vec<TransitionEvent>| events.into_iter().map(|(_, reason, _)| reason).collect::<Vec<_>>();
    assert_eq!(
        reasons(transition_events(None, &first)),
        ["MigrationSucceeded", "MigrationSucceeded", "MigrationStarted", "MigrationSucceeded", "TopicsReady"],
        "from nothing: every migration and the topics"
    );
    assert!(transition_events(Some(&first), &first).is_empty(), "no change, no Event");

    let ready = derive(&ts, &observed_all_up(&ts, &config), &Verdict::Applied);
    assert_eq!(reasons(transition_events(Some(&first), &ready)), ["Ready", "MigrationSucceeded"]);

    let mut failing = observed_all_up(&ts, &config);
    failing.component_mut(ComponentKind::Auth).migration = Some(job(&auth_job, Some("Failed")));
    let failed = derive(&ts, &failing, &Verdict::Applied);
    let events = transition_events(Some(&first), &failed);
    assert_eq!(reasons(events.clone()), ["MigrationFailed", "MigrationFailed"], "Stalled, and the migration");
    assert!(events.iter().all(|(type_, _, _)| *type_ == kube::runtime::events::EventType::Warning));
    assert!(events[1].2.contains("BackoffLimitExceeded"), "{}", events[1].2);
}
