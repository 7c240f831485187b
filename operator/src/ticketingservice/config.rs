//! The contract between the operator and the four binaries: which environment variables (their `--help`
//! lists them: `workloads/{ticketing,gate-acl,auth}/src/config.rs`, `workloads/common`) each component gets,
//! which come from its ConfigMap (non-secret) and which from Secrets, which Secret keys are mounted as
//! files (every password and key; a Secret value in a variable only where the binary reads it so: the
//! database URL, gate-acl's `SIGNING_KEY`, the broker's SASL user name), and what a migration Job gets
//! besides. The topic Job gets the broker's settings and files of the same contract.
//!
//! Pure: the spec in, names and values out. The objects that carry them are `workload`'s and `topics`'.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EnvVar, KeyToPath, ProjectedVolumeSource, SecretProjection, Volume, VolumeProjection,
};
use microfleet_crds::{
    clusterfetch::SecretKeyRef,
    ticketingservice::{Kafka, TicketingService},
};

use super::{
    component::{ComponentKind, HTTP_PORT},
    database::database_url_ref,
    service_keys::{registered_keys, service_key_ref},
};
use crate::pod::secret_env;

/// Where a component's Secret files are mounted.
pub const SECRETS_DIR: &str = "/var/run/secrets/microfleet";
/// The volume of the Secret files.
pub const SECRETS_VOLUME: &str = "secrets";
/// Seconds the services take to finish in-flight requests after SIGTERM when the spec does not say
/// (`SHUTDOWN_GRACE_SECONDS`' default).
const DEFAULT_SHUTDOWN_GRACE_SECONDS: i64 = 20;

/// The non-secret settings of a component: its ConfigMap's data, every key an environment variable.
pub fn config_data(ts: &TicketingService, kind: ComponentKind) -> BTreeMap<String, String> {
    let spec = &ts.spec;
    let mut data = BTreeMap::from([
        ("LISTEN_ADDR".to_string(), format!("0.0.0.0:{HTTP_PORT}")),
        ("LOG_FORMAT".to_string(), "json".to_string()),
    ]);
    if kind.uses_broker() {
        data.extend(kafka_settings(&spec.kafka));
    }
    for callee in kind.calls() {
        let variable = match callee {
            ComponentKind::Auth => "AUTH_URL",
            ComponentKind::Ticketing => "TICKETING_URL",
            ComponentKind::GateAcl => "GATE_ACL_URL",
            ComponentKind::Cms => continue,
        };
        data.insert(variable.into(), callee.url(ts));
    }
    let secrets = &kind.spec(spec).secrets;
    if !secrets.signing_keys.is_empty() {
        let files: Vec<String> =
            (0..secrets.signing_keys.len()).map(|i| format!("{SECRETS_DIR}/{}", signing_key_file(i))).collect();
        data.insert("SIGNING_KEY_FILES".into(), files.join(","));
    }
    if kind == ComponentKind::Cms && ts.spec.entry.tls_secret_name.is_some() {
        // served over HTTPS by the entry: the session cookie is Secure
        data.insert("COOKIE_SECURE".into(), "true".into());
    }
    if service_key_ref(ts, kind).is_some() {
        data.insert("AUTH_SERVICE_KEY_FILE".into(), format!("{SECRETS_DIR}/{AUTH_SERVICE_KEY_FILE}"));
    }
    if let Some(admin) = &secrets.bootstrap_admin {
        data.insert("BOOTSTRAP_ADMIN_USERNAME".into(), admin.username.clone());
        data.insert("BOOTSTRAP_ADMIN_PASSWORD_FILE".into(), format!("{SECRETS_DIR}/{BOOTSTRAP_PASSWORD_FILE}"));
    }
    data.extend(kind.spec(spec).config.clone());
    data
}

/// The broker settings of the saga's services (`KafkaArgs` and its `KafkaSecurityArgs` in
/// `workloads/common/src/kafka`): servers, topics, and the TLS and SASL settings (the CA and the SASL
/// password as files of the Secrets volume; the user name is a variable from its Secret).
fn kafka_settings(kafka: &Kafka) -> BTreeMap<String, String> {
    let mut data = BTreeMap::from([
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), kafka.bootstrap_servers.join(",")),
        ("KAFKA_TOPIC_PREFIX".to_string(), kafka.topic_prefix.clone()),
        ("KAFKA_TOPIC_PARTITIONS".to_string(), kafka.partitions.to_string()),
        ("KAFKA_TOPIC_REPLICATION".to_string(), kafka.replication_factor.to_string()),
    ]);
    data.extend(kafka_security_settings(kafka));
    data
}

/// The broker's TLS and SASL settings (`KafkaSecurityArgs`' variables), read by the services and by the
/// topic Job alike: the protocol, the SASL mechanism, and the paths of the CA and of the SASL password in
/// the Secrets volume ([`kafka_secret_files`]). Empty for plain text.
pub fn kafka_security_settings(kafka: &Kafka) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    if let Some(protocol) = security_protocol(kafka) {
        data.insert("KAFKA_SECURITY_PROTOCOL".into(), protocol.into());
    }
    if let Some(sasl) = &kafka.sasl {
        data.insert("KAFKA_SASL_MECHANISM".into(), sasl.mechanism.as_str().into());
        data.insert("KAFKA_SASL_PASSWORD_FILE".into(), format!("{SECRETS_DIR}/{KAFKA_SASL_PASSWORD_FILE}"));
    }
    if kafka_ca_ref(kafka).is_some() {
        data.insert("KAFKA_SSL_CA_LOCATION".into(), format!("{SECRETS_DIR}/{KAFKA_CA_FILE}"));
    }
    data
}

/// The Secret key of the brokers' CA, when the spec names one.
fn kafka_ca_ref(kafka: &Kafka) -> Option<&SecretKeyRef> {
    kafka.tls.as_ref().and_then(|tls| tls.ca_secret_key_ref.as_ref())
}

/// The broker's Secret keys read as files of the Secrets volume (the CA, the SASL password), each with its
/// file name under [`SECRETS_DIR`] (the paths [`kafka_security_settings`] gives).
pub fn kafka_secret_files(kafka: &Kafka) -> Vec<(SecretKeyRef, String)> {
    let mut files = Vec::new();
    if let Some(ca) = kafka_ca_ref(kafka) {
        files.push((ca.clone(), KAFKA_CA_FILE.into()));
    }
    if let Some(sasl) = &kafka.sasl {
        files.push((sasl.password.clone(), KAFKA_SASL_PASSWORD_FILE.into()));
    }
    files
}

/// The variable of the broker's SASL user name, from its Secret key, when the spec sets SASL.
pub fn kafka_sasl_username_env(kafka: &Kafka) -> Option<EnvVar> {
    kafka.sasl.as_ref().map(|sasl| secret_env("KAFKA_SASL_USERNAME", &sasl.username))
}

/// Kafka's `security.protocol` for the spec's TLS and SASL; `None` for plain text.
fn security_protocol(kafka: &Kafka) -> Option<&'static str> {
    match (kafka.tls.is_some(), kafka.sasl.is_some()) {
        (false, false) => None,
        (true, false) => Some("SSL"),
        (false, true) => Some("SASL_PLAINTEXT"),
        (true, true) => Some("SASL_SSL"),
    }
}

/// The secret settings of a component read from variables, each from its Secret key: the database URL, the
/// QR-code signing key and the broker's SASL user name (the other Secrets — the SASL password among them —
/// are files).
pub fn secret_env_vars(ts: &TicketingService, kind: ComponentKind) -> Vec<EnvVar> {
    let secrets = &kind.spec(&ts.spec).secrets;
    let mut env = vec![secret_env("DATABASE_URL", &database_url_ref(ts, kind))];
    if let Some(key) = &secrets.signing_key {
        env.push(secret_env("SIGNING_KEY", key));
    }
    if kind.uses_broker() {
        env.extend(kafka_sasl_username_env(&ts.spec.kafka));
    }
    env
}

/// The variables only a component's migration Job gets: for the auth service, the directory of the
/// services' keys it registers (`SERVICE_KEYS_DIR`), when there are any.
pub fn migrate_env_vars(ts: &TicketingService, kind: ComponentKind) -> Vec<EnvVar> {
    if kind != ComponentKind::Auth || registered_keys(ts).is_empty() {
        return Vec::new();
    }
    vec![EnvVar {
        name: "SERVICE_KEYS_DIR".into(),
        value: Some(format!("{SECRETS_DIR}/{SERVICE_KEYS_SUBDIR}")),
        ..Default::default()
    }]
}

/// The file a signing key is mounted as.
fn signing_key_file(index: usize) -> String {
    format!("signing-key-{index}")
}
const BOOTSTRAP_PASSWORD_FILE: &str = "bootstrap-admin-password";
const AUTH_SERVICE_KEY_FILE: &str = "auth-service-key";
/// The directory (under [`SECRETS_DIR`]) of the services' keys in the auth service's migration Job.
const SERVICE_KEYS_SUBDIR: &str = "service-keys";
const KAFKA_CA_FILE: &str = "kafka-ca.pem";
const KAFKA_SASL_PASSWORD_FILE: &str = "kafka-sasl-password";

/// The Secret keys a component reads as files (auth's signing keys and bootstrap password, a service's key at
/// the auth service, the broker's CA and SASL password; in the auth service's migration Job, with `migrate`,
/// also every caller's key, in `SERVICE_KEYS_DIR`), as one projected volume mounted at [`SECRETS_DIR`];
/// `None` when it reads none.
pub fn secret_files_volume(ts: &TicketingService, kind: ComponentKind, migrate: bool) -> Option<Volume> {
    let secrets = &kind.spec(&ts.spec).secrets;
    let mut files: Vec<(SecretKeyRef, String)> =
        secrets.signing_keys.iter().enumerate().map(|(i, key)| (key.clone(), signing_key_file(i))).collect();
    if let Some(admin) = &secrets.bootstrap_admin {
        files.push((admin.password.clone(), BOOTSTRAP_PASSWORD_FILE.into()));
    }
    if let Some(key) = service_key_ref(ts, kind) {
        files.push((key, AUTH_SERVICE_KEY_FILE.into()));
    }
    if migrate && kind == ComponentKind::Auth {
        for (name, key) in registered_keys(ts) {
            files.push((key, format!("{SERVICE_KEYS_SUBDIR}/{name}")));
        }
    }
    if kind.uses_broker() {
        files.extend(kafka_secret_files(&ts.spec.kafka));
    }
    secrets_volume(files)
}

/// The Secrets volume holding `files` (each a Secret key and its path under [`SECRETS_DIR`]), readable by the
/// pod's group only; `None` when there are none.
pub fn secrets_volume(files: Vec<(SecretKeyRef, String)>) -> Option<Volume> {
    if files.is_empty() {
        return None;
    }
    let sources = files
        .into_iter()
        .map(|(key, path)| VolumeProjection {
            secret: Some(SecretProjection {
                name: key.name,
                items: Some(vec![KeyToPath { key: key.key, path, mode: None }]),
                optional: Some(false),
            }),
            ..Default::default()
        })
        .collect();
    Some(Volume {
        name: SECRETS_VOLUME.into(),
        projected: Some(ProjectedVolumeSource { sources: Some(sources), default_mode: Some(0o440) }),
        ..Default::default()
    })
}

/// Seconds a pod gets between SIGTERM and SIGKILL: the service's shutdown grace (`SHUTDOWN_GRACE_SECONDS`,
/// from the spec's config or the services' default), plus the pre-stop pause, plus a margin.
pub fn termination_grace_seconds(ts: &TicketingService, kind: ComponentKind, pre_stop_seconds: i64) -> i64 {
    let grace = kind
        .spec(&ts.spec)
        .config
        .get("SHUTDOWN_GRACE_SECONDS")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS);
    grace + pre_stop_seconds + 5
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticketingservice::fixtures::ticketing_service;
    use microfleet_crds::clusterfetch::{KafkaSasl, KafkaTls, SaslMechanism};

    fn key(name: &str, key: &str) -> SecretKeyRef {
        SecretKeyRef { name: name.into(), key: key.into() }
    }

    /// The example with TLS (a CA from a Secret) and SCRAM-SHA-512 to the brokers.
    fn secured() -> TicketingService {
        let mut ts = ticketing_service();
        ts.spec.kafka.tls = Some(KafkaTls { ca_secret_key_ref: Some(key("kafka-ca", "ca.crt")) });
        ts.spec.kafka.sasl = Some(KafkaSasl {
            mechanism: SaslMechanism::ScramSha512,
            username: key("kafka-user", "username"),
            password: key("kafka-user", "password"),
        });
        ts
    }

    /// The files of the component's Secrets volume: (Secret, key, file).
    fn files(ts: &TicketingService, kind: ComponentKind) -> Vec<(String, String, String)> {
        let volume = secret_files_volume(ts, kind, false);
        let sources = volume.and_then(|v| v.projected).and_then(|p| p.sources).unwrap_or_default();
        sources
            .into_iter()
            .filter_map(|source| source.secret)
            .flat_map(|secret| {
                let name = secret.name.clone();
                secret.items.unwrap_or_default().into_iter().map(move |item| (name.clone(), item.key, item.path))
            })
            .collect()
    }

    #[test]
    fn the_brokers_tls_and_sasl_reach_the_services_as_the_settings_they_read() {
        let ts = secured();
        for kind in [ComponentKind::Ticketing, ComponentKind::GateAcl] {
            let data = config_data(&ts, kind);
            assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "SASL_SSL", "{kind:?}");
            assert_eq!(data["KAFKA_SASL_MECHANISM"], "SCRAM-SHA-512", "{kind:?}");
            assert_eq!(data["KAFKA_SASL_PASSWORD_FILE"], "/var/run/secrets/microfleet/kafka-sasl-password");
            assert_eq!(data["KAFKA_SSL_CA_LOCATION"], "/var/run/secrets/microfleet/kafka-ca.pem");
            let env = secret_env_vars(&ts, kind);
            let username = env.iter().find(|e| e.name == "KAFKA_SASL_USERNAME").and_then(|e| e.value_from.clone());
            let username = username.and_then(|from| from.secret_key_ref).map(|r| (r.name, r.key));
            assert_eq!(username, Some(("kafka-user".into(), "username".into())), "{kind:?}");
            assert!(
                env.iter().all(|e| !e.name.contains("PASSWORD")),
                "{kind:?}: the password is a file, never a variable"
            );
            let files = files(&ts, kind);
            let pair = |secret: &str, key: &str, file: &str| (secret.to_string(), key.to_string(), file.to_string());
            assert!(files.contains(&pair("kafka-user", "password", "kafka-sasl-password")), "{kind:?}: {files:?}");
            assert!(files.contains(&pair("kafka-ca", "ca.crt", "kafka-ca.pem")), "{kind:?}: {files:?}");
        }
        for kind in [ComponentKind::Auth, ComponentKind::Cms] {
            assert!(config_data(&ts, kind).keys().all(|k| !k.starts_with("KAFKA_")), "{kind:?} uses no broker");
            assert!(files(&ts, kind).iter().all(|(_, _, file)| !file.starts_with("kafka")), "{kind:?}");
        }
    }

    #[test]
    fn the_protocol_follows_tls_and_sasl_and_plain_text_sets_no_security_setting() {
        let mut ts = secured();
        ts.spec.kafka.tls = None;
        let data = config_data(&ts, ComponentKind::Ticketing);
        assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "SASL_PLAINTEXT");
        assert!(!data.contains_key("KAFKA_SSL_CA_LOCATION"));
        ts.spec.kafka.sasl = None;
        ts.spec.kafka.tls = Some(KafkaTls { ca_secret_key_ref: None });
        let data = config_data(&ts, ComponentKind::Ticketing);
        assert_eq!(data["KAFKA_SECURITY_PROTOCOL"], "SSL", "TLS with the system's roots");
        assert!(!data.contains_key("KAFKA_SSL_CA_LOCATION") && !data.contains_key("KAFKA_SASL_MECHANISM"));
        let plain = config_data(&ticketing_service(), ComponentKind::Ticketing);
        let security =
            ["KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CA_LOCATION"];
        assert!(security.iter().all(|k| !plain.contains_key(*k)), "{plain:?}");
    }
}
