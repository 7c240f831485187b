//! Tests of the builders: plain values in, objects out.

use super::*;
use crate::clusterfetch::fixtures::{at, cluster_fetch, spec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use microfleet_crds::clusterfetch::SecretKeyRef;
use microfleet_crds::{
    clusterfetch::{ClusterFetchStatus, ConcurrencyPolicy, NotificationState, RunOutcome, RunTrigger},
    contract::FailureClass,
};

fn config() -> BuildConfig {
    BuildConfig::new("registry.local/microfleet-fetcher:1.2.3")
}

fn pod_spec_of(cronjob: &CronJob) -> PodSpec {
    cronjob.spec.clone().unwrap().job_template.spec.unwrap().template.spec.unwrap()
}

fn env_of(container: &Container) -> BTreeMap<String, EnvVar> {
    container.env.clone().unwrap().into_iter().map(|e| (e.name.clone(), e)).collect()
}

fn failed_run(name: &str) -> RunRecord {
    RunRecord {
        job_name: name.into(),
        trigger: RunTrigger::Scheduled,
        start_time: Some(Time(at(0))),
        completion_time: Some(Time(at(3))),
        outcome: RunOutcome::Failed,
        items: Some(10),
        bytes: Some(400),
        duration_seconds: Some(180.0),
        failure_class: Some(FailureClass::Source),
        message: Some("GET /v1/users: 503 Service Unavailable after 5 attempts".into()),
        notification: NotificationState::Pending,
    }
}

#[test]
fn the_cronjob_carries_the_schedule_and_its_policies() {
    let policies = [
        (ConcurrencyPolicy::Allow, "Allow"),
        (ConcurrencyPolicy::Forbid, "Forbid"),
        (ConcurrencyPolicy::Replace, "Replace"),
    ];
    for (policy, expected) in policies {
        for suspend in [false, true] {
            let mut s = spec();
            s.concurrency_policy = policy;
            s.suspend = suspend;
            s.starting_deadline_seconds = Some(600);
            s.successful_runs_history_limit = 4;
            s.failed_runs_history_limit = 6;
            s.active_deadline_seconds = 900;
            let cronjob = build_cronjob(&cluster_fetch(s), &config()).unwrap();
            let cj = cronjob.spec.clone().unwrap();
            assert_eq!(cj.schedule, "0 2 * * *");
            assert_eq!(cj.time_zone.as_deref(), Some("Asia/Jakarta"));
            assert_eq!(cj.concurrency_policy.as_deref(), Some(expected));
            assert_eq!(cj.suspend, Some(suspend));
            assert_eq!(cj.starting_deadline_seconds, Some(600));
            assert_eq!((cj.successful_jobs_history_limit, cj.failed_jobs_history_limit), (Some(4), Some(6)));
            let job = cj.job_template.spec.unwrap();
            assert_eq!(job.active_deadline_seconds, Some(900));
            assert_eq!(job.backoff_limit, Some(0), "retries happen inside the fetcher, never by re-running a delivery");
        }
    }
}

#[test]
fn the_cronjob_is_owned_and_labelled() {
    let cronjob = build_cronjob(&cluster_fetch(spec()), &config()).unwrap();
    assert_eq!(cronjob.metadata.name.as_deref(), Some("promo-users"));
    assert_eq!(cronjob.metadata.namespace.as_deref(), Some("promo"));
    let owner = &cronjob.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("ClusterFetch", "promo-users", "cf-uid-1")
    );
    assert_eq!(owner.controller, Some(true));
    let template_labels = cronjob.spec.unwrap().job_template.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    assert_eq!(template_labels.get(labels::CLUSTER_FETCH).map(String::as_str), Some("promo-users"));
    assert_eq!(template_labels.get(labels::ROLE).map(String::as_str), Some(labels::ROLE_RUN));
}

#[test]
fn the_pod_is_restricted() {
    let pod = pod_spec_of(&build_cronjob(&cluster_fetch(spec()), &config()).unwrap());
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = &pod.containers[0];
    let sc = c.security_context.clone().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
    assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
    assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
    assert!(c.resources.as_ref().unwrap().limits.as_ref().unwrap().contains_key("memory"));
}

#[test]
fn secrets_reach_the_pod_only_as_secret_key_refs() {
    let mut s = spec();
    s.sink.http.as_mut().unwrap().credentials = Some(microfleet_crds::clusterfetch::Credentials {
        bearer_token: None,
        basic: None,
        api_key: Some(microfleet_crds::clusterfetch::ApiKey {
            header: "X-API-Key".into(),
            secret_key_ref: SecretKeyRef { name: "promotion-api".into(), key: "key".into() },
        }),
    });
    let pod = pod_spec_of(&build_cronjob(&cluster_fetch(s), &config()).unwrap());
    let env = env_of(&pod.containers[0]);
    for (name, secret, key) in
        [(env::SOURCE_BEARER_TOKEN, "clustering-api", "token"), (env::SINK_API_KEY, "promotion-api", "key")]
    {
        let var = &env[name];
        assert_eq!(var.value, None, "{name} must not carry a value");
        let selector = var.value_from.clone().unwrap().secret_key_ref.unwrap();
        assert_eq!((selector.name.as_str(), selector.key.as_str()), (secret, key));
    }
    let plan: FetchPlan = serde_json::from_str(env[env::FETCH_PLAN].value.as_ref().unwrap()).unwrap();
    assert_eq!(plan.source.url, "http://clustering.promo.svc:8080/v1/users");
    assert!(!env.contains_key(env::NOTIFY_WEBHOOK_URL), "only the notifier gets the webhook Secret");
    let run_id = env[env::RUN_ID].value_from.clone().unwrap().field_ref.unwrap();
    assert_eq!(run_id.field_path, "metadata.labels['batch.kubernetes.io/job-name']");
}

#[test]
fn the_image_comes_from_the_spec_or_the_operator() {
    let default = pod_spec_of(&build_cronjob(&cluster_fetch(spec()), &config()).unwrap());
    assert_eq!(default.containers[0].image.as_deref(), Some("registry.local/microfleet-fetcher:1.2.3"));
    let mut s = spec();
    s.image = Some("registry.local/custom:9".into());
    s.service_account_name = Some("promo-fetcher".into());
    let custom = pod_spec_of(&build_cronjob(&cluster_fetch(s), &config()).unwrap());
    assert_eq!(custom.containers[0].image.as_deref(), Some("registry.local/custom:9"));
    assert_eq!(custom.service_account_name.as_deref(), Some("promo-fetcher"));
}

#[test]
fn the_pushgateway_reaches_the_run_only_when_configured() {
    let without = pod_spec_of(&build_cronjob(&cluster_fetch(spec()), &config()).unwrap());
    assert!(!env_of(&without.containers[0]).contains_key(env::PUSHGATEWAY_URL));
    let with = BuildConfig { pushgateway_url: Some("http://pushgateway.monitoring:9091".into()), ..config() };
    let pod = pod_spec_of(&build_cronjob(&cluster_fetch(spec()), &with).unwrap());
    assert_eq!(
        env_of(&pod.containers[0])[env::PUSHGATEWAY_URL].value.as_deref(),
        Some("http://pushgateway.monitoring:9091")
    );
}

#[test]
fn the_drop_guard_gets_the_last_successful_runs_item_count() {
    let succeeded = |name: &str, items| RunRecord {
        outcome: RunOutcome::Succeeded,
        items: Some(items),
        failure_class: None,
        message: None,
        ..failed_run(name)
    };
    let guarded = |percent: Option<i32>| {
        let mut spec = spec();
        spec.checks.max_drop_percent = percent;
        spec
    };
    // (case, maxDropPercent, recentRuns newest first, the variable's value)
    let cases = [
        ("no guard: no variable", None, vec![succeeded("r2", 25_000)], None),
        ("no run yet", Some(30), vec![], None),
        ("no success yet", Some(30), vec![failed_run("r1")], None),
        ("the newest success", Some(30), vec![succeeded("r3", 24_000), succeeded("r2", 25_000)], Some("24000")),
        ("failures after it are skipped", Some(30), vec![failed_run("r3"), succeeded("r2", 25_000)], Some("25000")),
    ];
    for (case, percent, runs, want) in cases {
        let mut cf = cluster_fetch(guarded(percent));
        cf.status = Some(ClusterFetchStatus { recent_runs: runs, ..Default::default() });
        let pod = pod_spec_of(&build_cronjob(&cf, &config()).unwrap());
        let env = env_of(&pod.containers[0]);
        assert_eq!(env.get(env::LAST_SUCCESS_ITEMS).and_then(|e| e.value.as_deref()), want, "{case}");
    }
}

#[test]
fn a_cluster_fetch_without_uid_cannot_own_children() {
    let mut cf = cluster_fetch(spec());
    cf.metadata.uid = None;
    assert!(matches!(build_cronjob(&cf, &config()), Err(BuildError::MissingMetadata("uid"))));
}

#[test]
fn run_now_jobs_are_named_per_value_and_owned_by_the_cronjob() {
    let mut cronjob = build_cronjob(&cluster_fetch(spec()), &config()).unwrap();
    assert!(matches!(build_run_now_job(&cronjob, "1"), Err(BuildError::CronJobNotApplied(_))));
    cronjob.metadata.uid = Some("cj-uid".into());
    let a = build_run_now_job(&cronjob, "2026-11-22T10:00").unwrap();
    let again = build_run_now_job(&cronjob, "2026-11-22T10:00").unwrap();
    let b = build_run_now_job(&cronjob, "2026-11-22T11:00").unwrap();
    assert_eq!(a.metadata.name, again.metadata.name);
    assert_ne!(a.metadata.name, b.metadata.name);
    let owner = &a.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("CronJob", "cj-uid"));
    assert_eq!(a.metadata.annotations.as_ref().unwrap()[labels::INSTANTIATE], "manual");
    assert_eq!(a.spec, cronjob.spec.unwrap().job_template.spec);
}

#[test]
fn the_notifier_gets_the_webhook_secret_and_the_failure_nothing_more() {
    let mut s = spec();
    s.image = Some("registry.local/broken:tag".into());
    let job =
        build_notifier_job(&cluster_fetch(s), &failed_run("promo-users-29000000"), 3, &config()).unwrap().unwrap();
    assert_eq!(job.metadata.name.as_deref(), Some(notifier_job_name("promo-users", "promo-users-29000000").as_str()));
    assert_eq!(job.metadata.labels.as_ref().unwrap()[labels::NOTIFIES_RUN], "promo-users-29000000");
    let pod = job.spec.clone().unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some("registry.local/microfleet-fetcher:1.2.3"),
        "not the run's (maybe broken) image"
    );
    assert_eq!(c.args, Some(vec!["notify".to_string()]));
    let env = env_of(c);
    let url = env[env::NOTIFY_WEBHOOK_URL].value_from.clone().unwrap().secret_key_ref.unwrap();
    assert_eq!((url.name.as_str(), url.key.as_str()), ("oncall-webhook", "url"));
    assert_eq!(env[env::NOTIFY_FORMAT].value.as_deref(), Some("slack"));
    let notification: Notification = serde_json::from_str(env[env::NOTIFICATION].value.as_ref().unwrap()).unwrap();
    assert_eq!(notification.run_id, "promo-users-29000000");
    assert_eq!(notification.cluster_fetch, "promo-users");
    assert_eq!(notification.failure_class, FailureClass::Source);
    assert_eq!(notification.consecutive_failures, 3);
    assert!(!env.contains_key(env::SOURCE_BEARER_TOKEN), "the notifier gets no fetch credentials");
    assert_eq!(job.spec.unwrap().ttl_seconds_after_finished, Some(NOTIFIER_TTL_SECONDS));
}

#[test]
fn no_notifier_without_spec_notify() {
    let mut s = spec();
    s.notify = None;
    assert!(build_notifier_job(&cluster_fetch(s), &failed_run("r"), 1, &config()).unwrap().is_none());
}

#[test]
fn child_names_fit_in_63_characters() {
    let long = "a".repeat(52);
    let run = format!("{long}-29000000");
    for name in [run_now_job_name(&long, "any value"), notifier_job_name(&long, &run)] {
        assert!(name.len() <= 63, "{name} is {} characters", name.len());
        assert!(!name.contains("--"));
    }
    assert_ne!(notifier_job_name("cf", "cf-1"), notifier_job_name("cf", "cf-2"));
}

#[test]
fn a_kafka_sink_gets_its_settings_in_the_plan_and_its_secrets_as_secret_key_refs() {
    use microfleet_crds::clusterfetch::{KafkaSasl, KafkaSink, KafkaTls, SaslMechanism};
    let secret = |key: &str| SecretKeyRef { name: "promo-kafka".into(), key: key.into() };
    let kafka = KafkaSink {
        bootstrap_servers: vec!["kafka-0:9093".into(), "kafka-1:9093".into()],
        topic: "promo.users".into(),
        key_field: Some("/user_id".into()),
        tls: Some(KafkaTls { ca_secret_key_ref: Some(secret("ca.crt")) }),
        sasl: Some(KafkaSasl {
            mechanism: SaslMechanism::ScramSha512,
            username: secret("username"),
            password: secret("password"),
        }),
        transactional_id_prefix: Some("promo".into()),
        timeout_seconds: 20,
    };
    let plain = KafkaSink { tls: None, sasl: None, ..kafka.clone() };
    let system_roots = KafkaSink { tls: Some(KafkaTls::default()), sasl: None, ..kafka.clone() };
    let every_secret = [
        (env::SINK_KAFKA_SASL_USERNAME, "username"),
        (env::SINK_KAFKA_SASL_PASSWORD, "password"),
        (env::SINK_KAFKA_CA_PEM, "ca.crt"),
    ];
    let cases =
        [("tls_and_sasl", kafka, true), ("plaintext", plain, false), ("tls_with_system_roots", system_roots, false)];
    for (case, sink, with_secrets) in cases {
        let mut s = spec();
        s.sink.http = None;
        s.sink.kafka = Some(sink.clone());
        let pod = pod_spec_of(&build_cronjob(&cluster_fetch(s), &config()).unwrap());
        let env = env_of(&pod.containers[0]);
        let plan: FetchPlan = serde_json::from_str(env[env::FETCH_PLAN].value.as_ref().unwrap()).unwrap();
        assert_eq!(plan.sink.kafka.as_ref(), Some(&sink), "{case}: the plan carries the Kafka settings");
        for (name, key) in every_secret {
            let expected = with_secrets.then_some(key);
            let selector = env.get(name).map(|var| {
                assert_eq!(var.value, None, "{case}: {name} must not carry a value");
                var.value_from.clone().unwrap().secret_key_ref.unwrap()
            });
            assert_eq!(
                selector.map(|s| (s.name, s.key)),
                expected.map(|k| ("promo-kafka".into(), k.into())),
                "{case}: {name}"
            );
        }
        let sink_credentials = [env::SINK_BEARER_TOKEN, env::SINK_BASIC_USERNAME, env::SINK_API_KEY];
        assert!(sink_credentials.iter().all(|n| !env.contains_key(*n)), "{case}: no HTTP sink credentials");
    }
}
