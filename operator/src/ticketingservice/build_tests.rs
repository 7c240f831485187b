//! The builders with plain values: the example TicketingService in, the children out.

use std::collections::BTreeMap;

use k8s_openapi::api::{
    apps::v1::Deployment,
    batch::v1::Job,
    core::v1::{ConfigMap, EnvVar},
    networking::v1::NetworkPolicy,
};
use microfleet_crds::ticketingservice::{MigrationState, TicketingService};
use serde_json::Value;

use super::build_children;
use crate::ticketingservice::{
    component::ComponentKind,
    config::config_data,
    discovery::Discovered,
    fixtures::{config, deployment, job, ticketing_service},
    rollout::{plan_rollout, Observed, Plan},
    workload::{build_config_map, build_deployment, config_hash, migration_job_name},
};

const EVERYTHING: Discovered =
    Discovered { strimzi_topics: true, cloud_native_pg: true, gateway_api: true, prometheus_operator: true };

fn settled(ts: &TicketingService, discovered: &Discovered) -> Vec<Value> {
    build_children(ts, discovered, &Plan::settled(ts, &config()), &config()).unwrap()
}

fn kinds(children: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for child in children {
        *out.entry(child["kind"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    out
}

fn named<'a>(children: &'a [Value], kind: &str, name: &str) -> &'a Value {
    children
        .iter()
        .find(|c| c["kind"] == kind && c["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn typed<K: serde::de::DeserializeOwned>(children: &[Value], kind: &str, name: &str) -> K {
    serde_json::from_value(named(children, kind, name).clone()).unwrap()
}

fn with_strimzi_and_gateway(mut ts: TicketingService) -> TicketingService {
    ts.spec.kafka.strimzi_cluster = Some("events".into());
    ts.spec.entry.gateway =
        serde_json::from_value(serde_json::json!({"name": "public", "namespace": "gateways"})).unwrap();
    ts
}

#[test]
fn what_is_emitted_follows_what_discovery_found() {
    let ts = ticketing_service();
    let bare = kinds(&settled(&ts, &Discovered::default()));
    let expected_bare = [
        ("ConfigMap", 4),
        ("Deployment", 4),
        ("HorizontalPodAutoscaler", 1),
        ("Ingress", 1),
        ("Job", 5),
        ("NetworkPolicy", 5),
        ("PodDisruptionBudget", 4),
        ("Service", 4),
    ];
    assert_eq!(bare, expected_bare.iter().map(|(k, n)| (k.to_string(), *n)).collect(), "nothing optional installed");

    let rich = kinds(&settled(&with_strimzi_and_gateway(ts.clone()), &EVERYTHING));
    for (kind, count) in
        [("Cluster", 1), ("KafkaTopic", 8), ("HTTPRoute", 1), ("ServiceMonitor", 1), ("PrometheusRule", 1), ("Job", 4)]
    {
        assert_eq!(rich.get(kind), Some(&count), "{kind} with every optional API: {rich:?}");
    }
    assert_eq!(rich.get("Ingress"), None);

    // Strimzi installed but its cluster not named: the topic Job; Gateway API installed but no Gateway: an Ingress
    let unnamed = kinds(&settled(&ts, &EVERYTHING));
    assert_eq!((unnamed.get("KafkaTopic"), unnamed.get("Job"), unnamed.get("Ingress")), (None, Some(&5), Some(&1)));
}

#[test]
fn every_child_is_owned_labelled_and_named_within_limits() {
    let ts = with_strimzi_and_gateway(ticketing_service());
    for child in settled(&ts, &EVERYTHING) {
        let name = child["metadata"]["name"].as_str().unwrap();
        assert!(name.len() <= 63, "{name} is too long for a label value");
        assert_eq!(child["metadata"]["namespace"], "ticketing", "{name}");
        assert_eq!(child["metadata"]["ownerReferences"][0]["kind"], "TicketingService", "{name}");
        assert_eq!(child["metadata"]["ownerReferences"][0]["controller"], true, "{name}");
        assert_eq!(child["metadata"]["labels"]["microfleet.io/ticketingservice"], "tickets", "{name}");
        assert_eq!(child["metadata"]["labels"]["app.kubernetes.io/managed-by"], "microfleet-operator", "{name}");
    }
}

#[test]
fn a_deployment_is_restricted_probed_spread_and_rolls_without_downtime() {
    let ts = ticketing_service();
    let children = settled(&ts, &Discovered::default());
    let replicas: Vec<Option<i32>> = ComponentKind::ALL
        .into_iter()
        .map(|kind| typed::<Deployment>(&children, "Deployment", &kind.name(&ts)).spec.unwrap().replicas)
        .collect();
    assert_eq!(replicas, [None, Some(3), Some(2), Some(2)], "autoscaled, set, default, default");

    let gate: Deployment = typed(&children, "Deployment", "tickets-gate-acl");
    let spec = gate.spec.unwrap();
    let rolling = spec.strategy.unwrap().rolling_update.unwrap();
    assert_eq!(serde_json::to_value(rolling.max_unavailable).unwrap(), 0);
    assert_eq!(serde_json::to_value(rolling.max_surge).unwrap(), 1);
    let pod = spec.template.spec.unwrap();
    let keys: Vec<String> = pod.topology_spread_constraints.unwrap().into_iter().map(|c| c.topology_key).collect();
    assert_eq!(keys, ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
    assert_eq!(pod.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    assert_eq!(pod.automount_service_account_token, Some(false));
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("ghcr.io/microfleet/gate-acl-service:0.1.0"));
    assert_eq!(container.args.as_deref(), Some(&["serve".to_string()][..]));
    let security = container.security_context.as_ref().unwrap();
    assert_eq!((security.allow_privilege_escalation, security.read_only_root_filesystem), (Some(false), Some(true)));
    let path = |probe: &Option<k8s_openapi::api::core::v1::Probe>| {
        probe.as_ref().unwrap().http_get.as_ref().unwrap().path.clone().unwrap()
    };
    assert_eq!(path(&container.readiness_probe), "/readyz");
    assert_eq!(path(&container.liveness_probe), "/healthz");
    assert_eq!(path(&container.startup_probe), "/healthz");
    assert!(container.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap().sleep.is_some());
    assert_eq!(pod.termination_grace_period_seconds, Some(20 + 5 + 5), "shutdown grace + pre-stop + margin");
    let budget: k8s_openapi::api::policy::v1::PodDisruptionBudget =
        typed(&children, "PodDisruptionBudget", "tickets-gate-acl");
    assert_eq!(
        serde_json::to_value(budget.spec.unwrap().max_unavailable).unwrap(),
        1,
        "a drain takes one pod at a time"
    );
    // the selector is the serving pods' (a migration pod is not behind the Service)
    assert_eq!(spec.selector.match_labels.unwrap()["microfleet.io/role"], "serve");
}

#[test]
fn a_config_change_changes_the_pod_template_and_so_rolls_the_pods() {
    let ts = ticketing_service();
    let hash_of = |ts: &TicketingService| {
        let config_map = build_config_map(ts, ComponentKind::Ticketing).unwrap();
        let deployment = build_deployment(ts, ComponentKind::Ticketing, "img:1", &config_map).unwrap();
        deployment.spec.unwrap().template.metadata.unwrap().annotations.unwrap()["microfleet.io/config-hash"].clone()
    };
    let before = hash_of(&ts);
    let mut changed = ts.clone();
    changed.spec.ticketing.config.insert("ORDER_HOLD_SECONDS".into(), "300".into());
    assert_ne!(hash_of(&changed), before, "a setting changed");
    let mut other_component = ts.clone();
    other_component.spec.cms.config.insert("X".into(), "1".into());
    assert_eq!(hash_of(&other_component), before, "another component's setting does not roll this one");
    assert_eq!(config_hash(&build_config_map(&ts, ComponentKind::Ticketing).unwrap()), before);
}

fn env_names(env: &[EnvVar]) -> Vec<&str> {
    env.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn each_component_gets_the_settings_its_binary_reads() {
    let ts = ticketing_service();
    let keys = |kind| config_data(&ts, kind).into_keys().collect::<Vec<_>>();
    assert_eq!(
        keys(ComponentKind::Ticketing),
        [
            "AUTH_SERVICE_KEY_FILE",
            "AUTH_URL",
            "KAFKA_BOOTSTRAP_SERVERS",
            "KAFKA_TOPIC_PARTITIONS",
            "KAFKA_TOPIC_PREFIX",
            "KAFKA_TOPIC_REPLICATION",
            "LISTEN_ADDR",
            "LOG_FORMAT",
            "ORDER_HOLD_SECONDS"
        ]
    );
    assert_eq!(
        keys(ComponentKind::Auth),
        ["BOOTSTRAP_ADMIN_PASSWORD_FILE", "BOOTSTRAP_ADMIN_USERNAME", "LISTEN_ADDR", "LOG_FORMAT", "SIGNING_KEY_FILES"]
    );
    assert_eq!(
        keys(ComponentKind::Cms),
        ["AUTH_URL", "COOKIE_SECURE", "GATE_ACL_URL", "LISTEN_ADDR", "LOG_FORMAT", "TICKETING_URL"],
        "the entry serves HTTPS: a Secure cookie; no service key (the CMS accepts access tokens only)"
    );
    let ticketing = config_data(&ts, ComponentKind::Ticketing);
    assert_eq!(ticketing["AUTH_SERVICE_KEY_FILE"], "/var/run/secrets/microfleet/auth-service-key");
    assert_eq!(ticketing["KAFKA_BOOTSTRAP_SERVERS"], "kafka-0.kafka.kafka.svc:9092,kafka-1.kafka.kafka.svc:9092");
    assert_eq!(ticketing["AUTH_URL"], "http://tickets-auth:8080");
    assert_eq!(ticketing["KAFKA_TOPIC_REPLICATION"], "3");
    let auth = config_data(&ts, ComponentKind::Auth);
    assert_eq!(auth["SIGNING_KEY_FILES"], "/var/run/secrets/microfleet/signing-key-0");

    let children = settled(&ts, &Discovered { cloud_native_pg: true, ..Default::default() });
    let pod = |name: &str| typed::<Deployment>(&children, "Deployment", name).spec.unwrap().template.spec.unwrap();
    let gate = pod("tickets-gate-acl");
    assert_eq!(env_names(gate.containers[0].env.as_ref().unwrap()), ["DATABASE_URL", "SIGNING_KEY"]);
    let gate_files =
        gate.volumes.clone().unwrap().into_iter().find(|v| v.name == "secrets").unwrap().projected.unwrap();
    assert_eq!(
        gate_files.sources.unwrap()[0].secret.as_ref().unwrap().items.as_ref().unwrap()[0].path,
        "auth-service-key"
    );
    let cms = pod("tickets-cms");
    assert_eq!(env_names(cms.containers[0].env.as_ref().unwrap()), ["DATABASE_URL"]);
    let auth = pod("tickets-auth");
    let database = auth.containers[0].env.as_ref().unwrap()[0].value_from.clone().unwrap().secret_key_ref.unwrap();
    assert_eq!((database.name.as_str(), database.key.as_str()), ("tickets-auth-db-app", "uri"), "CloudNativePG's URL");
    let projected = auth.volumes.unwrap().into_iter().find(|v| v.name == "secrets").unwrap().projected.unwrap();
    let paths: Vec<String> =
        projected.sources.unwrap().into_iter().map(|s| s.secret.unwrap().items.unwrap()[0].path.clone()).collect();
    assert_eq!(paths, ["signing-key-0", "bootstrap-admin-password"]);
    let config_map: ConfigMap = typed(&children, "ConfigMap", "tickets-cms");
    assert_eq!(config_map.data.unwrap()["TICKETING_URL"], "http://tickets-ticketing:8080");
}

/// The sources of a pod's Secret files volume: (Secret, key, path).
fn secret_files(pod: &k8s_openapi::api::core::v1::PodSpec) -> Vec<(String, String, String)> {
    let Some(volume) = pod.volumes.iter().flatten().find(|v| v.name == "secrets") else { return Vec::new() };
    let sources = volume.projected.clone().unwrap().sources.unwrap();
    sources
        .into_iter()
        .map(|source| {
            let secret = source.secret.unwrap();
            let item = secret.items.unwrap()[0].clone();
            (secret.name, item.key, item.path)
        })
        .collect()
}

#[test]
fn the_generated_service_keys_are_referenced_mounted_and_registered_by_the_auth_migration() {
    let ts = ticketing_service();
    let children = settled(&ts, &Discovered::default());
    assert!(children.iter().all(|c| c["kind"] != "Secret"), "build references the Secret; the write step makes it");
    let pod = |name: &str| typed::<Deployment>(&children, "Deployment", name).spec.unwrap().template.spec.unwrap();
    let file = |secret: &str, key: &str, path: &str| (secret.to_string(), key.to_string(), path.to_string());
    assert_eq!(
        secret_files(&pod("tickets-ticketing")),
        [file("tickets-service-keys", "ticketing", "auth-service-key")]
    );
    assert!(secret_files(&pod("tickets-gate-acl")).contains(&file(
        "tickets-service-keys",
        "gate-acl",
        "auth-service-key"
    )));
    assert!(secret_files(&pod("tickets-cms")).is_empty(), "the CMS needs no key");
    let serving_auth = secret_files(&pod("tickets-auth"));
    assert!(
        serving_auth.iter().all(|(secret, _, _)| secret != "tickets-service-keys"),
        "serving pods hold no other service's key"
    );

    let job = |children: &[serde_json::Value]| {
        let job = children
            .iter()
            .find(|c| {
                c["kind"] == "Job" && c["metadata"]["name"].as_str().unwrap().starts_with("tickets-auth-migrate-")
            })
            .unwrap();
        serde_json::from_value::<Job>(job.clone()).unwrap()
    };
    let migrate = job(&children).spec.unwrap().template.spec.unwrap();
    let files = secret_files(&migrate);
    assert!(files.contains(&file("tickets-service-keys", "ticketing", "service-keys/ticketing")), "{files:?}");
    assert!(files.contains(&file("tickets-service-keys", "gate-acl", "service-keys/gate-acl")), "{files:?}");
    let env = migrate.containers[0].env.clone().unwrap();
    let dir = env.iter().find(|e| e.name == "SERVICE_KEYS_DIR").and_then(|e| e.value.clone());
    assert_eq!(dir.as_deref(), Some("/var/run/secrets/microfleet/service-keys"));
    let serving_env = pod("tickets-auth").containers[0].env.clone().unwrap();
    assert!(serving_env.iter().all(|e| e.name != "SERVICE_KEYS_DIR"));

    // a key the spec names: mounted instead, registered by a new auth migration (a new Job name)
    let mut own = ts.clone();
    own.spec.cms.secrets.auth_service_key =
        serde_json::from_value(serde_json::json!({"name": "cms-keys", "key": "cms"})).unwrap();
    let own_children = settled(&own, &Discovered::default());
    let cms = typed::<Deployment>(&own_children, "Deployment", "tickets-cms").spec.unwrap().template.spec.unwrap();
    assert_eq!(secret_files(&cms), [file("cms-keys", "cms", "auth-service-key")]);
    assert_eq!(
        config_data(&own, ComponentKind::Cms)["AUTH_SERVICE_KEY_FILE"],
        "/var/run/secrets/microfleet/auth-service-key"
    );
    let own_job = job(&own_children);
    assert!(secret_files(&own_job.spec.clone().unwrap().template.spec.unwrap()).contains(&file(
        "cms-keys",
        "cms",
        "service-keys/cms"
    )));
    assert_ne!(
        own_job.metadata.name,
        job(&children).metadata.name,
        "new keys to register: the auth migration runs again"
    );
    let ticketing_job = |ts: &TicketingService| migration_job_name(ts, ComponentKind::Ticketing, "img:1");
    assert_eq!(ticketing_job(&own), ticketing_job(&ts), "the other components' migrations do not");
}

#[test]
fn each_image_gets_its_own_migration_job_running_migrate() {
    let ts = ticketing_service();
    let children = settled(&ts, &Discovered::default());
    let name = migration_job_name(&ts, ComponentKind::Ticketing, "ghcr.io/microfleet/ticketing-service:0.1.0");
    assert!(name.starts_with("tickets-ticketing-migrate-"), "{name}");
    assert_ne!(name, migration_job_name(&ts, ComponentKind::Ticketing, "ghcr.io/microfleet/ticketing-service:0.2.0"));
    let job: Job = typed(&children, "Job", &name);
    let pod = job.spec.unwrap().template.spec.unwrap();
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.containers[0].args.as_deref(), Some(&["migrate".to_string()][..]));
    assert_eq!(env_names(pod.containers[0].env.as_ref().unwrap())[0], "DATABASE_URL");
    assert!(pod.containers[0].readiness_probe.is_none());
}

#[test]
fn the_topics_are_kafka_topics_with_strimzi_and_a_job_without() {
    let ts = ticketing_service();
    let children = settled(&ts, &Discovered::default());
    let job = children.iter().find(|c| c["kind"] == "Job" && c["metadata"]["labels"]["microfleet.io/role"] == "topics");
    let script = job.unwrap()["spec"]["template"]["spec"]["containers"][0]["command"][2].as_str().unwrap().to_string();
    for suffix in crate::ticketingservice::topics::TOPIC_SUFFIXES {
        assert!(
            script.contains(&format!(
                "--create --if-not-exists --topic 'ticketing.{suffix}' --partitions 6 --replication-factor 3"
            )),
            "{suffix} missing from:\n{script}"
        );
    }
    assert!(script.contains("--describe"));

    let strimzi = settled(&with_strimzi_and_gateway(ts), &EVERYTHING);
    let topic = named(&strimzi, "KafkaTopic", "tickets-dead-letter");
    assert_eq!(topic["metadata"]["labels"]["strimzi.io/cluster"], "events");
    assert_eq!(
        topic["spec"],
        serde_json::json!({"topicName": "ticketing.dead-letter", "partitions": 6, "replicas": 3})
    );
}

/// The example with TLS (a CA from a Secret) and SCRAM-SHA-512 to the brokers.
fn secured() -> TicketingService {
    let mut ts = ticketing_service();
    ts.spec.kafka.tls =
        serde_json::from_value(serde_json::json!({"caSecretKeyRef": {"name": "kafka-ca", "key": "ca.crt"}})).unwrap();
    ts.spec.kafka.sasl = serde_json::from_value(serde_json::json!({
        "mechanism": "SCRAM-SHA-512",
        "username": {"name": "kafka-user", "key": "username"},
        "password": {"name": "kafka-user", "key": "password"},
    }))
    .unwrap();
    ts
}

/// The topic Job's pod for `ts`.
fn topics_pod(ts: &TicketingService) -> k8s_openapi::api::core::v1::PodSpec {
    crate::ticketingservice::topics::build_topics_job(ts).unwrap().spec.unwrap().template.spec.unwrap()
}

#[test]
fn the_topic_job_reads_the_brokers_settings_as_the_services_do_the_password_from_a_file() {
    let ts = secured();
    let pod = topics_pod(&ts);
    let container = &pod.containers[0];
    let env = container.env.clone().unwrap();
    let plain: BTreeMap<String, String> =
        env.iter().filter_map(|e| Some((e.name.clone(), e.value.clone()?))).filter(|(n, _)| n != "LOG_DIR").collect();
    let services = config_data(&ts, ComponentKind::Ticketing);
    for (name, value) in &plain {
        assert_eq!(services.get(name), Some(value), "{name}: the topic Job and the services share one contract");
    }
    assert_eq!(plain["KAFKA_SASL_PASSWORD_FILE"], "/var/run/secrets/microfleet/kafka-sasl-password");
    let from_secrets: Vec<(String, String, String)> = env
        .iter()
        .filter_map(|e| {
            let r = e.value_from.clone()?.secret_key_ref?;
            Some((e.name.clone(), r.name, r.key))
        })
        .collect();
    assert_eq!(
        from_secrets,
        [("KAFKA_SASL_USERNAME".to_string(), "kafka-user".to_string(), "username".to_string())],
        "the password is a file, never a variable"
    );
    let file = |secret: &str, key: &str, path: &str| (secret.to_string(), key.to_string(), path.to_string());
    assert_eq!(
        secret_files(&pod),
        [file("kafka-ca", "ca.crt", "kafka-ca.pem"), file("kafka-user", "password", "kafka-sasl-password")]
    );
    let mount = container.volume_mounts.iter().flatten().find(|m| m.name == "secrets").unwrap();
    assert_eq!((mount.mount_path.as_str(), mount.read_only), ("/var/run/secrets/microfleet", Some(true)));

    let plain_text = topics_pod(&ticketing_service());
    assert!(secret_files(&plain_text).is_empty(), "plain text: no Secret files");
    assert_eq!(env_names(plain_text.containers[0].env.as_ref().unwrap()), ["KAFKA_BOOTSTRAP_SERVERS", "LOG_DIR"]);
}

/// Runs the topic Job's script under `/bin/sh` with its pod's variables (the Secret files and the user name
/// given by the test) and a stand-in `kafka-topics.sh` that keeps the client settings it is given; returns
/// them.
fn client_settings_of_the_topic_job(ts: &TicketingService, username: &str, password_file: &str) -> String {
    let dir = std::env::temp_dir().join(format!("microfleet-topics-job-{}-{username}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_path = dir.join("kafka-sasl-password");
    std::fs::write(&password_path, password_file).unwrap();
    let settings = dir.join("settings");
    let stub = dir.join("kafka-topics.sh");
    std::fs::write(&stub, format!("#!/bin/sh\ncat \"$4\" > '{}'\n", settings.display())).unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let pod = topics_pod(ts);
    let container = &pod.containers[0];
    let script = container.command.as_ref().unwrap()[2].replace("/opt/kafka/bin", &dir.display().to_string());
    let mut command = std::process::Command::new("/bin/sh");
    command.args(["-c", &script]).env_clear().env("PATH", "/usr/bin:/bin").env("TMPDIR", &dir);
    for var in container.env.iter().flatten() {
        let value = match var.name.as_str() {
            "KAFKA_SASL_USERNAME" => username.to_string(),
            "KAFKA_SASL_PASSWORD_FILE" => password_path.display().to_string(),
            _ => var.value.clone().unwrap(),
        };
        command.env(&var.name, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.stdout.is_empty() && output.stderr.is_empty(), "the script prints nothing");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    text
}

#[test]
fn the_topic_job_s_script_logs_in_with_the_password_of_the_mounted_file() {
    let settings = client_settings_of_the_topic_job(&secured(), "svc", "from-the-file\n");
    assert_eq!(
        settings,
        "security.protocol=SASL_SSL\n\
         ssl.truststore.type=PEM\n\
         ssl.truststore.location=/var/run/secrets/microfleet/kafka-ca.pem\n\
         sasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"svc\" password=\"from-the-file\";\n"
    );
    // quotes and backslashes: escaped for JAAS, then the backslashes again for the properties file
    let settings = client_settings_of_the_topic_job(&secured(), "quoting", "a\"b\\c");
    assert!(settings.contains(r#"password="a\\"b\\\\c";"#), "{settings}");

    let mut plain = secured();
    plain.spec.kafka.sasl = None;
    plain.spec.kafka.tls = None;
    assert_eq!(client_settings_of_the_topic_job(&plain, "plain", ""), "", "plain text: no settings");
}

#[test]
fn the_entry_routes_the_cms_and_the_public_apis_only() {
    let ts = ticketing_service();
    let ingress = named(&settled(&ts, &Discovered::default()), "Ingress", "tickets").clone();
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(ingress["spec"]["tls"][0]["secretName"], "tickets-example-com-tls");
    let paths: Vec<(String, String)> = ingress["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["path"].as_str().unwrap().into(), p["backend"]["service"]["name"].as_str().unwrap().into()))
        .collect();
    let backend = |path: &str| paths.iter().find(|(p, _)| p == path).map(|(_, b)| b.as_str());
    assert_eq!(backend("/v1/orders"), Some("tickets-ticketing"));
    assert_eq!(backend("/v1/scans"), Some("tickets-gate-acl"));
    assert_eq!(backend("/v1/login"), Some("tickets-auth"));
    assert_eq!(backend("/"), Some("tickets-cms"));
    for private in ["/v1/introspect", "/v1/api-keys", "/v1/users", "/v1/gates", "/v1/access", "/v1/merchants"] {
        assert_eq!(backend(private), None, "{private} must not be routed");
    }

    let route = named(&settled(&with_strimzi_and_gateway(ts), &EVERYTHING), "HTTPRoute", "tickets").clone();
    assert_eq!(route["spec"]["parentRefs"][0]["name"], "public");
    assert_eq!(route["spec"]["parentRefs"][0]["namespace"], "gateways");
    assert_eq!(route["spec"]["hostnames"][0], "tickets.example.com");
    assert_eq!(route["spec"]["rules"].as_array().unwrap().len(), paths.len());
}

#[test]
fn the_network_policies_admit_only_the_callers_and_reach_only_the_dependencies() {
    let ts = ticketing_service();
    let children = settled(&ts, &Discovered { cloud_native_pg: true, ..Default::default() });
    let policy = |name: &str| typed::<NetworkPolicy>(&children, "NetworkPolicy", name).spec.unwrap();
    let components_from = |name: &str| {
        let from = policy(name).ingress.unwrap()[0].from.clone().unwrap();
        let mut components: Vec<String> = from
            .iter()
            .filter_map(|peer| {
                peer.pod_selector.as_ref()?.match_labels.as_ref()?.get("microfleet.io/component").cloned()
            })
            .collect();
        components.sort();
        let namespaces: Vec<String> = from
            .iter()
            .filter_map(|peer| {
                peer.namespace_selector.as_ref()?.match_labels.as_ref()?.get("kubernetes.io/metadata.name").cloned()
            })
            .collect();
        (components, namespaces)
    };
    let both = vec!["ingress-nginx".to_string(), "monitoring".to_string()];
    assert_eq!(
        components_from("tickets-auth"),
        (vec!["cms".into(), "gate-acl".into(), "ticketing".into()], both.clone())
    );
    assert_eq!(components_from("tickets-ticketing"), (vec!["cms".into()], both.clone()));
    assert_eq!(components_from("tickets-cms"), (vec![], both));

    let egress_ports = |name: &str| {
        let mut ports: Vec<i32> = policy(name)
            .egress
            .unwrap()
            .iter()
            .flat_map(|rule| rule.ports.clone().unwrap_or_default())
            .filter_map(|p| match p.port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => Some(n),
                _ => None,
            })
            .collect();
        ports.sort();
        ports.dedup();
        ports
    };
    assert_eq!(egress_ports("tickets-ticketing"), [53, 5432, 8080, 9092], "DNS, its database, auth, the broker");
    assert_eq!(egress_ports("tickets-auth"), [53, 5432], "DNS and its database only");
    assert_eq!(egress_ports("tickets-cms"), [53, 5432, 8080], "no broker");
    assert_eq!(egress_ports("tickets-topics"), [53, 9092]);
    let auth_database = policy("tickets-auth").egress.unwrap()[1].to.clone().unwrap();
    assert_eq!(
        auth_database[0].pod_selector.as_ref().unwrap().match_labels.as_ref().unwrap()["cnpg.io/cluster"],
        "tickets-auth-db",
        "its own CloudNativePG cluster, not any database"
    );

    let mut off = ts.clone();
    off.spec.network.policies = false;
    assert_eq!(kinds(&settled(&off, &Discovered::default())).get("NetworkPolicy"), None);
}

#[test]
fn the_alerts_use_the_services_metric_names_and_the_spec_thresholds() {
    let ts = ticketing_service();
    let children = settled(&ts, &EVERYTHING);
    let monitor = named(&children, "ServiceMonitor", "tickets");
    assert_eq!(monitor["spec"]["selector"]["matchLabels"]["microfleet.io/ticketingservice"], "tickets");
    let rule = named(&children, "PrometheusRule", "tickets");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alert = |name: &str| rules.iter().filter(|r| r["alert"] == name).collect::<Vec<_>>();
    assert_eq!(alert("TicketingComponentUnavailable").len(), 4);
    assert_eq!(alert("TicketingErrorRateHigh").len(), 4);
    let order = alert("TicketingOrderLatencyHigh")[0]["expr"].as_str().unwrap();
    assert!(order.contains("ticketing_http_request_duration_seconds_bucket") && order.contains("route=\"/v1/orders\""));
    assert!(order.ends_with("> 0.8"), "{order}");
    let scan = alert("TicketingScanLatencyHigh")[0]["expr"].as_str().unwrap();
    assert!(scan.contains("gate_http_request_duration_seconds_bucket") && scan.ends_with("> 0.3"), "{scan}");
    assert!(alert("TicketingSagaBacklog")[0]["expr"]
        .as_str()
        .unwrap()
        .contains("saga_outbox_oldest_pending_age_seconds"));
    assert!(alert("TicketingDeadLetters")[0]["expr"].as_str().unwrap().contains("saga_dead_letters_total"));
    for rule in rules {
        assert_eq!(rule["labels"]["team"], "ticketing");
    }
    let mut quiet = ts.clone();
    quiet.spec.alerts.enabled = false;
    assert_eq!(kinds(&settled(&quiet, &EVERYTHING)).get("PrometheusRule"), None);
}

#[test]
fn a_new_version_migrates_before_the_deployment_rolls_to_it() {
    let ts = ticketing_service();
    let old = "ghcr.io/microfleet/ticketing-service:0.0.9";
    let new = "ghcr.io/microfleet/ticketing-service:0.1.0";
    let job_of = |state: Option<&str>| Some(job(&migration_job_name(&ts, ComponentKind::Ticketing, new), state));
    /// (case, image deployed, migration Job of the new image (running: `Some(None)`), image to deploy, state)
    type Row<'a> = (&'a str, Option<&'a str>, Option<Option<&'a str>>, Option<&'a str>, MigrationState);
    let rows: [Row; 5] = [
        ("first install, migration not started", None, None, None, MigrationState::Pending),
        ("first install, migration running", None, Some(None), None, MigrationState::Running),
        ("first install, migrated", None, Some(Some("Complete")), Some(new), MigrationState::Succeeded),
        ("upgrade, migration running", Some(old), Some(None), Some(old), MigrationState::Running),
        ("upgrade, migration failed", Some(old), Some(Some("Failed")), Some(old), MigrationState::Failed),
    ];
    for (case, deployed, migration, expected_image, expected_state) in rows {
        let mut observed = Observed::default();
        let seen = observed.component_mut(ComponentKind::Ticketing);
        seen.deployment = deployed.map(|image| deployment(&ts, ComponentKind::Ticketing, image, 2, 2));
        seen.migration = migration.and_then(job_of);
        let plan = plan_rollout(&ts, &Discovered::default(), &observed, &config());
        let step = plan.component(ComponentKind::Ticketing);
        assert_eq!(step.deploy_image.as_deref(), expected_image, "{case}");
        assert_eq!(step.migration, expected_state, "{case}");
        assert!(step.migrate, "{case}: a database from a Secret is taken to serve");
        let children = build_children(&ts, &Discovered::default(), &plan, &config()).unwrap();
        let deployments =
            children.iter().filter(|c| c["metadata"]["name"] == "tickets-ticketing" && c["kind"] == "Deployment");
        assert_eq!(deployments.count(), usize::from(expected_image.is_some()), "{case}");
    }
}

#[test]
fn a_cloud_native_pg_database_is_migrated_once_it_serves() {
    let ts = ticketing_service();
    let discovered = Discovered { cloud_native_pg: true, ..Default::default() };
    let mut observed = Observed::default();
    let plan = plan_rollout(&ts, &discovered, &observed, &config());
    assert!(!plan.component(ComponentKind::Auth).migrate, "no cluster yet");
    let children = build_children(&ts, &discovered, &plan, &config()).unwrap();
    let cluster = named(&children, "Cluster", "tickets-auth-db");
    assert_eq!(cluster["spec"]["instances"], 2);
    assert_eq!(cluster["spec"]["storage"]["size"], "2Gi");
    assert_eq!(cluster["spec"]["bootstrap"]["initdb"], serde_json::json!({"database": "auth", "owner": "auth"}));

    let mut ready = cluster.clone();
    ready["status"] = serde_json::json!({"readyInstances": 2, "conditions": [{"type": "Ready", "status": "True"}]});
    observed.component_mut(ComponentKind::Auth).database = Some(ready);
    assert!(plan_rollout(&ts, &discovered, &observed, &config()).component(ComponentKind::Auth).migrate);
    // without CloudNativePG installed it never serves (validate reports it)
    assert!(!plan_rollout(&ts, &Discovered::default(), &observed, &config()).component(ComponentKind::Auth).migrate);
}

#[test]
fn every_pod_goes_where_the_placement_says_a_components_own_over_the_specs() {
    let mut ts = ticketing_service();
    let placement = |node: &str| {
        serde_json::from_value(serde_json::json!({
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        }))
        .unwrap()
    };
    let unplaced = settled(&ts, &Discovered::default());
    ts.spec.placement = Some(placement("pool-a"));
    ts.spec.gate_acl.placement = Some(placement("pool-b"));
    let children = settled(&ts, &Discovered::default());
    let node = |pod: &Value| pod["nodeSelector"]["kubernetes.io/hostname"].clone();
    let pods: Vec<(String, &Value)> = children
        .iter()
        .filter(|c| c["kind"] == "Deployment" || c["kind"] == "Job")
        .map(|c| (c["metadata"]["name"].as_str().unwrap().to_string(), &c["spec"]["template"]["spec"]))
        .collect();
    assert_eq!(pods.len(), 9, "four Deployments, four migration Jobs, the topic Job");
    for (name, pod) in pods {
        let expected = if name.starts_with("tickets-gate-acl") { "pool-b" } else { "pool-a" };
        assert_eq!(node(pod), expected, "{name}");
        assert_eq!(pod["tolerations"][0]["key"], "dedicated", "{name}");
    }
    let deployment = named(&unplaced, "Deployment", "tickets-ticketing");
    let pod = &deployment["spec"]["template"]["spec"];
    assert!(pod.get("nodeSelector").is_none() && pod.get("tolerations").is_none(), "none without a placement");
}
