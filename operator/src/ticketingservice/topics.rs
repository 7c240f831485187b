//! The saga's topics on the broker: their names under the spec's prefix, as Strimzi `KafkaTopic` resources
//! when that API is installed and the spec names the Strimzi cluster, otherwise as a Job that creates the
//! missing ones (and describes them all) with `kafka-topics.sh`, Kafka's admin client. The Job gets the
//! broker's TLS and SASL settings as the services do (`config`'s variables and Secret files: the SASL
//! password is a mounted file, never a variable).
//!
//! Pure: the spec and what discovery found in, objects out. No I/O.

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            Container, EmptyDirVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::ObjectMeta},
};
use microfleet_crds::{labels, ticketingservice::TicketingService};
use serde_json::{json, Value};

use super::{
    build::{child_labels, child_meta, BuildError},
    config::{kafka_sasl_username_env, kafka_secret_files, kafka_security_settings, secrets_volume, SECRETS_DIR},
    discovery::{Discovered, KAFKA_TOPIC},
};
use crate::pod::{plain_env, restricted_container_security, restricted_pod, short_hash};

/// The suffixes of the saga's broker topics (`<prefix>.<suffix>`): the channels the services' outboxes
/// write (the seed's five request-model topics first, then `event-approved` and `order-expired`) and the
/// dead-letter topic. The same list as `microfleet_common::topics::Topics::all` (a test holds them equal).
pub const TOPIC_SUFFIXES: [&str; 8] = [
    "order-paid",
    "access-prepared",
    "ticket-status",
    "access-revoke",
    "access-revoked",
    "event-approved",
    "order-expired",
    "dead-letter",
];

/// Where the Kafka image keeps its command-line tools.
const KAFKA_BIN: &str = "/opt/kafka/bin";
/// The longest the topic Job may take, in seconds.
const TOPICS_DEADLINE_SECONDS: i64 = 600;

/// The saga's topic names under the spec's prefix.
pub fn topic_names(ts: &TicketingService) -> Vec<String> {
    TOPIC_SUFFIXES.iter().map(|suffix| format!("{}.{suffix}", ts.spec.kafka.topic_prefix)).collect()
}

/// Whether the topics are KafkaTopic resources (Strimzi installed and its cluster named) or the Job's.
pub fn uses_kafka_topics(ts: &TicketingService, discovered: &Discovered) -> bool {
    discovered.strimzi_topics && ts.spec.kafka.strimzi_cluster.is_some()
}

/// The objects that provision the topics: one KafkaTopic each, or the topic Job.
pub fn build_topics(ts: &TicketingService, discovered: &Discovered) -> Result<Vec<Value>, BuildError> {
    if uses_kafka_topics(ts, discovered) {
        return TOPIC_SUFFIXES.iter().map(|suffix| build_kafka_topic(ts, suffix)).collect();
    }
    Ok(vec![serde_json::to_value(build_topics_job(ts)?)?])
}

/// The name of a topic's KafkaTopic: `<ts>-<suffix>` (a topic name may hold characters a resource name may
/// not; `spec.topicName` holds the real one).
pub fn kafka_topic_name(ts: &TicketingService, suffix: &str) -> String {
    format!("{}-{suffix}", ts.metadata.name.as_deref().unwrap_or_default())
}

fn build_kafka_topic(ts: &TicketingService, suffix: &str) -> Result<Value, BuildError> {
    let kafka = &ts.spec.kafka;
    let mut meta = child_meta(ts, kafka_topic_name(ts, suffix), None, None)?;
    if let (Some(labels), Some(cluster)) = (meta.labels.as_mut(), &kafka.strimzi_cluster) {
        labels.insert("strimzi.io/cluster".into(), cluster.clone());
    }
    Ok(json!({
        "apiVersion": KAFKA_TOPIC.api_version,
        "kind": KAFKA_TOPIC.kind,
        "metadata": meta,
        "spec": {
            "topicName": format!("{}.{suffix}", kafka.topic_prefix),
            "partitions": kafka.partitions,
            "replicas": kafka.replication_factor,
        },
    }))
}

/// The name of the topic Job: one per set of topics and their settings, so a change creates the new ones.
pub fn topics_job_name(ts: &TicketingService) -> String {
    let kafka = &ts.spec.kafka;
    let key = format!(
        "{}|{}|{}|{}|{}",
        kafka.bootstrap_servers.join(","),
        topic_names(ts).join(","),
        kafka.partitions,
        kafka.replication_factor,
        kafka.topics_job_image
    );
    format!("{}-topics-{}", ts.metadata.name.as_deref().unwrap_or_default(), short_hash(&key))
}

/// The start of the topic Job's shell script: it writes the admin client's settings from the same variables the
/// services read (`KafkaSecurityArgs`: `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SSL_CA_LOCATION`,
/// `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, and the password read from `KAFKA_SASL_PASSWORD_FILE`, a
/// mounted Secret file). The user name and password stand inside the JAAS setting's double quotes in a
/// properties file: `\` and `"` are escaped for JAAS, then `\` again for the file. Nothing is echoed (no `-x`).
const CLIENT_SETTINGS_SCRIPT: &str = r#"set -eu
config="${TMPDIR:-/tmp}/client.properties"
: > "$config"
quoted() { printf '%s' "$1" | sed -e 's/\\/\\\\\\\\/g' -e 's/"/\\\\"/g'; }
if [ -n "${KAFKA_SECURITY_PROTOCOL:-}" ]; then
  printf 'security.protocol=%s\n' "$KAFKA_SECURITY_PROTOCOL" >> "$config"
fi
if [ -n "${KAFKA_SSL_CA_LOCATION:-}" ]; then
  printf 'ssl.truststore.type=PEM\nssl.truststore.location=%s\n' "$KAFKA_SSL_CA_LOCATION" >> "$config"
fi
if [ -n "${KAFKA_SASL_MECHANISM:-}" ]; then
  case "$KAFKA_SASL_MECHANISM" in
    PLAIN) module=org.apache.kafka.common.security.plain.PlainLoginModule ;;
    *) module=org.apache.kafka.common.security.scram.ScramLoginModule ;;
  esac
  username="$(quoted "$KAFKA_SASL_USERNAME")"
  password="$(cat "$KAFKA_SASL_PASSWORD_FILE")"
  password="$(quoted "$password")"
  printf 'sasl.mechanism=%s\nsasl.jaas.config=%s required username="%s" password="%s";\n' \
    "$KAFKA_SASL_MECHANISM" "$module" "$username" "$password" >> "$config"
fi
"#;

/// The shell script of the topic Job: the client settings ([`CLIENT_SETTINGS_SCRIPT`]), then
/// `kafka-topics.sh --create --if-not-exists` and `--describe` of each topic.
fn topics_script(ts: &TicketingService) -> String {
    let kafka = &ts.spec.kafka;
    let mut script = String::from(CLIENT_SETTINGS_SCRIPT);
    for topic in topic_names(ts) {
        script.push_str(&format!(
            "{KAFKA_BIN}/kafka-topics.sh --bootstrap-server \"$KAFKA_BOOTSTRAP_SERVERS\" --command-config \"$config\" --create --if-not-exists --topic '{topic}' --partitions {} --replication-factor {}\n",
            kafka.partitions, kafka.replication_factor
        ));
    }
    script.push_str(&format!(
        "{KAFKA_BIN}/kafka-topics.sh --bootstrap-server \"$KAFKA_BOOTSTRAP_SERVERS\" --command-config \"$config\" --describe --topic '{}'\n",
        topic_names(ts).iter().map(|t| regex_escape(t)).collect::<Vec<_>>().join("|")
    ));
    script
}

/// `name` with the regular-expression characters a topic name can hold escaped (`--topic` takes a regex).
fn regex_escape(name: &str) -> String {
    name.replace('.', "\\.")
}

/// The topic Job: the Kafka image's admin client creates the topics that are missing and describes them all.
pub fn build_topics_job(ts: &TicketingService) -> Result<Job, BuildError> {
    let kafka = &ts.spec.kafka;
    let mut env = vec![
        plain_env("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers.join(",")),
        plain_env("LOG_DIR", "/tmp".into()),
    ];
    env.extend(kafka_security_settings(kafka).into_iter().map(|(name, value)| plain_env(&name, value)));
    env.extend(kafka_sasl_username_env(kafka));
    let mut mounts = vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }];
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity("64Mi".into())), ..Default::default() }),
        ..Default::default()
    }];
    if let Some(secrets) = secrets_volume(kafka_secret_files(kafka)) {
        mounts.push(VolumeMount {
            name: secrets.name.clone(),
            mount_path: SECRETS_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
        volumes.push(secrets);
    }
    let container = Container {
        name: "topics".into(),
        image: Some(kafka.topics_job_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), topics_script(ts)]),
        env: Some(env),
        resources: Some(ResourceRequirements {
            requests: Some(
                [("cpu".to_string(), Quantity("100m".into())), ("memory".to_string(), Quantity("256Mi".into()))].into(),
            ),
            limits: Some([("memory".to_string(), Quantity("512Mi".into()))].into()),
            ..Default::default()
        }),
        security_context: Some(restricted_container_security()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        ..restricted_pod(container, volumes, ts.spec.placement.as_ref())
    };
    Ok(Job {
        metadata: child_meta(ts, topics_job_name(ts), None, Some(labels::ROLE_TOPICS))?,
        spec: Some(JobSpec {
            backoff_limit: Some(6),
            active_deadline_seconds: Some(TOPICS_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(child_labels(ts, None, Some(labels::ROLE_TOPICS))),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    })
}
