//! The contract between the operator and the four binaries: which environment variables (their `--help`
//! lists them: `workloads/{ticketing,gate-acl,auth}/src/config.rs`, `workloads/common`) each component gets,
//! which come from its ConfigMap (non-secret) and which from Secrets, which Secret keys are mounted as
//! files, and what a migration Job gets besides.
//!
//! Pure: the spec in, names and values out. The objects that carry them are `workload`'s.

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

/// The broker settings of the saga's services (`KafkaArgs`), and the TLS and SASL settings by the names of
/// the client properties they map to.
fn kafka_settings(kafka: &Kafka) -> BTreeMap<String, String> {
    let mut data = BTreeMap::from([
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), kafka.bootstrap_servers.join(",")),
        ("KAFKA_TOPIC_PREFIX".to_string(), kafka.topic_prefix.clone()),
        ("KAFKA_TOPIC_PARTITIONS".to_string(), kafka.partitions.to_string()),
        ("KAFKA_TOPIC_REPLICATION".to_string(), kafka.replication_factor.to_string()),
    ]);
    if let Some(protocol) = security_protocol(kafka) {
        data.insert("KAFKA_SECURITY_PROTOCOL".into(), protocol.into());
    }
    if let Some(sasl) = &kafka.sasl {
        data.insert("KAFKA_SASL_MECHANISM".into(), sasl.mechanism.as_str().into());
    }
    if kafka.tls.as_ref().is_some_and(|tls| tls.ca_secret_key_ref.is_some()) {
        data.insert("KAFKA_SSL_CA_LOCATION".into(), format!("{SECRETS_DIR}/{KAFKA_CA_FILE}"));
    }
    data
}

/// Kafka's `security.protocol` for the spec's TLS and SASL; `None` for plain text.
pub fn security_protocol(kafka: &Kafka) -> Option<&'static str> {
    match (kafka.tls.is_some(), kafka.sasl.is_some()) {
        (false, false) => None,
        (true, false) => Some("SSL"),
        (false, true) => Some("SASL_PLAINTEXT"),
        (true, true) => Some("SASL_SSL"),
    }
}

/// The secret settings of a component read from variables, each from its Secret key: the database URL, the
/// QR-code signing key and the broker's SASL credentials (the other Secrets are files).
pub fn secret_env_vars(ts: &TicketingService, kind: ComponentKind) -> Vec<EnvVar> {
    let secrets = &kind.spec(&ts.spec).secrets;
    let mut env = vec![secret_env("DATABASE_URL", &database_url_ref(ts, kind))];
    if let Some(key) = &secrets.signing_key {
        env.push(secret_env("SIGNING_KEY", key));
    }
    if let (true, Some(sasl)) = (kind.uses_broker(), &ts.spec.kafka.sasl) {
        env.push(secret_env("KAFKA_SASL_USERNAME", &sasl.username));
        env.push(secret_env("KAFKA_SASL_PASSWORD", &sasl.password));
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

/// The Secret keys a component reads as files (auth's signing keys and bootstrap password, a service's key at
/// the auth service, the broker's CA; in the auth service's migration Job, with `migrate`, also every
/// caller's key, in `SERVICE_KEYS_DIR`), as one projected volume mounted at [`SECRETS_DIR`]; `None` when it
/// reads none.
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
    let ca = ts.spec.kafka.tls.as_ref().and_then(|tls| tls.ca_secret_key_ref.as_ref());
    if let (true, Some(ca)) = (kind.uses_broker(), ca) {
        files.push((ca.clone(), KAFKA_CA_FILE.into()));
    }
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
