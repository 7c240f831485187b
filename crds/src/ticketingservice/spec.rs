//! `TicketingService` spec: the broker, the four components (`ticketing`, `gateAcl`, `auth`, `cms`) with their
//! databases, Secrets and scaling, the external entry and the alert thresholds.
//!
//! Only types, defaults and admission rules (OpenAPI + CEL) live here; no I/O and no controller logic.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::status::TicketingServiceStatus;
use crate::clusterfetch::{bounded_quantities, KafkaSasl, KafkaTls, SecretKeyRef, IMAGE_RULE};

/// The e-ticketing system (seed 004) as one resource: the ticketing, gate-acl and auth services and the CMS,
/// each with its own PostgreSQL database, talking over the saga's Kafka topics, behind one external entry,
/// watched by alerts.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "microfleet.io",
    version = "v1alpha1",
    kind = "TicketingService",
    plural = "ticketingservices",
    namespaced,
    status = "TicketingServiceStatus",
    shortname = "ts",
    category = "microfleet",
    doc = "TicketingService deploys, wires and watches the e-ticketing system: the ticketing, gate-acl and auth services and the CMS, their databases, the saga's Kafka topics, the external entry, network policies and alerts.",
    printcolumn(
        name = "Components",
        type_ = "string",
        json_path = ".status.readyComponents",
        description = "Components whose Deployment is fully rolled out and available, of four"
    ),
    printcolumn(name = "Entry", type_ = "string", json_path = ".status.entry.url"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("self.metadata.name.size() <= 30").message("metadata.name must be at most 30 characters: it prefixes the children's names, e.g. <name>-gate-acl-migrate-<hash>, which may be 63 at most")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.gateAcl.secrets.signingKey)").message("spec.gateAcl.secrets.signingKey is required: gate-acl-service signs QR codes with it (SIGNING_KEY); name a key of a Secret holding an Ed25519 key").field_path(".gateAcl.secrets"))]
#[x_kube(validation = Rule::new("has(self.auth.secrets.signingKeys) && self.auth.secrets.signingKeys.size() >= 1").message("spec.auth.secrets.signingKeys must name at least one Secret key: auth-service signs access tokens with the last one (SIGNING_KEY_FILES)").field_path(".auth.secrets"))]
#[x_kube(validation = Rule::new("!has(self.ticketing.secrets.signingKey) && !has(self.ticketing.secrets.signingKeys) && !has(self.ticketing.secrets.bootstrapAdmin)").message("spec.ticketing.secrets: ticketing-service reads only authServiceKey; remove the others").field_path(".ticketing.secrets"))]
#[x_kube(validation = Rule::new("!has(self.gateAcl.secrets.signingKeys) && !has(self.gateAcl.secrets.bootstrapAdmin)").message("spec.gateAcl.secrets: gate-acl-service reads only authServiceKey and signingKey; remove the others").field_path(".gateAcl.secrets"))]
#[x_kube(validation = Rule::new("!has(self.auth.secrets.signingKey) && !has(self.auth.secrets.authServiceKey)").message("spec.auth.secrets: auth-service reads only signingKeys and bootstrapAdmin; remove the others").field_path(".auth.secrets"))]
#[x_kube(validation = Rule::new("!has(self.cms.secrets.signingKey) && !has(self.cms.secrets.signingKeys) && !has(self.cms.secrets.bootstrapAdmin)").message("spec.cms.secrets: ticketing-cms reads only authServiceKey; remove the others").field_path(".cms.secrets"))]
pub struct TicketingServiceSpec {
    /// The broker of the saga and its topics.
    pub kafka: Kafka,
    /// ticketing-service: merchants, events, orders, payments, refunds and tickets.
    pub ticketing: Component,
    /// gate-acl-service: the access list at the venue gates and their scans.
    pub gate_acl: Component,
    /// auth-service: users, logins, tokens and API keys.
    pub auth: Component,
    /// ticketing-cms: the back-office web application (its database holds its sessions).
    pub cms: Component,
    /// The external entry (the seed's load balancer): the CMS and the public APIs under one host name.
    pub entry: Entry,
    /// Who may reach the components besides each other (the NetworkPolicies' peers).
    #[serde(default)]
    pub network: Network,
    /// The alerts of the system (a PrometheusRule, when the prometheus-operator is installed).
    #[serde(default)]
    pub alerts: Alerts,
    /// Where every pod of the system runs (the components' and the topic Job's), unless a component's own
    /// placement says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Where pods may run: the pod spec's `nodeSelector` and `tolerations`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Labels a node must have to run the pods, e.g. {"kubernetes.io/os": "linux"}.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints of nodes the pods tolerate, e.g. [{key: dedicated, value: ticketing, effect: NoSchedule}].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub tolerations: Vec<Toleration>,
}

/// The Kafka broker of the saga and the topics the operator provisions on it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.sasl) || self.sasl.mechanism != 'PLAIN' || has(self.tls)").message("spec.kafka.sasl.mechanism PLAIN sends the password as is: set spec.kafka.tls too, or use SCRAM-SHA-512"))]
pub struct Kafka {
    /// Bootstrap servers, each "host:port", e.g. ["kafka-0.kafka.svc:9092"].
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 255)))]
    #[x_kube(validation = Rule::new(r"self.all(s, s.matches('^[^,[:space:]/]+:[0-9]{1,5}$'))").message("spec.kafka.bootstrapServers: each entry must be one host:port, e.g. kafka-0.kafka.svc:9092: no scheme, no spaces, no commas (list several as several entries)"))]
    pub bootstrap_servers: Vec<String>,
    /// TLS to the brokers (the CA from a Secret, or the system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<KafkaTls>,
    /// SASL authentication; the user name and password come from Secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<KafkaSasl>,
    /// Prefix of every saga topic (`<prefix>.order-paid`, ..., `<prefix>.dead-letter`).
    #[serde(default = "default_topic_prefix")]
    #[schemars(length(min = 1, max = 200))]
    #[x_kube(validation = Rule::new("self.matches('^[a-zA-Z0-9._-]+$')").message("spec.kafka.topicPrefix may hold only a-z, A-Z, 0-9, '.', '_' and '-', e.g. ticketing"))]
    pub topic_prefix: String,
    /// Partitions of each topic (the most consumers of one group that work at once).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 1000))]
    pub partitions: i32,
    /// Replicas of each topic's partitions (3 on a production cluster; 1 on a one-broker cluster).
    #[serde(default = "default_replication_factor")]
    #[schemars(range(min = 1, max = 10))]
    pub replication_factor: i32,
    /// The Strimzi `Kafka` cluster the topics belong to (label `strimzi.io/cluster`). When it is set and the
    /// Strimzi KafkaTopic API is installed, topics are KafkaTopic resources; otherwise a Job creates them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub strimzi_cluster: Option<String>,
    /// Image of the Job that creates the topics when Strimzi is not used (it runs `kafka-topics.sh`).
    #[serde(default = "default_topics_image")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(IMAGE_RULE).message("spec.kafka.topicsJobImage must be an image reference such as apache/kafka:4.1.1 or registry.example:5000/kafka@sha256:<digest>: lower-case repository path, no spaces, no scheme"))]
    pub topics_job_image: String,
}

fn default_topic_prefix() -> String {
    "ticketing".into()
}
fn default_partitions() -> i32 {
    3
}
fn default_replication_factor() -> i32 {
    1
}
fn default_topics_image() -> String {
    "apache/kafka:4.1.1".into()
}

/// One component of the system: its pods, its database, its Secrets, its scaling and its extra settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.autoscaling))").message("set replicas or autoscaling, not both: with autoscaling the HorizontalPodAutoscaler owns the replica count (remove replicas)"))]
#[x_kube(validation = Rule::new("!has(self.config) || self.config.all(k, !(k in ['LISTEN_ADDR', 'DATABASE_URL', 'LOG_FORMAT', 'KAFKA_BOOTSTRAP_SERVERS', 'KAFKA_TOPIC_PREFIX', 'KAFKA_TOPIC_PARTITIONS', 'KAFKA_TOPIC_REPLICATION', 'SIGNING_KEY', 'SIGNING_KEY_FILES', 'BOOTSTRAP_ADMIN_USERNAME', 'BOOTSTRAP_ADMIN_PASSWORD_FILE', 'AUTH_URL', 'AUTH_SERVICE_KEY_FILE', 'TICKETING_URL', 'GATE_ACL_URL']))").message("config must not set a variable the operator sets (LISTEN_ADDR, DATABASE_URL, LOG_FORMAT, the KAFKA_ topics and servers, the keys, the service URLs): use the matching spec field instead"))]
pub struct Component {
    /// Pods to run when autoscaling is not set (default 2, so one can be drained without downtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub replicas: Option<i32>,
    /// Image to run; defaults to the component's image released with this operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new(IMAGE_RULE).message("image must be an image reference such as registry.example:5000/microfleet/ticketing-service:1.2.3 or team/app@sha256:<digest>: lower-case repository path, no spaces, no scheme"))]
    pub image: Option<String>,
    /// Compute resources of the container; defaults to requests 100m CPU / 128Mi, limit 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = bounded_quantities)]
    #[x_kube(validation = Rule::new("!has(self.limits) || self.limits.all(k, isQuantity(string(self.limits[k])))").message("resources.limits must be quantities such as \"500m\", \"64Mi\" or \"1Gi\": a number and a unit, no space between them"))]
    #[x_kube(validation = Rule::new("!has(self.requests) || self.requests.all(k, isQuantity(string(self.requests[k])))").message("resources.requests must be quantities such as \"500m\", \"64Mi\" or \"1Gi\": a number and a unit, no space between them"))]
    pub resources: Option<ResourceRequirements>,
    /// The component's own PostgreSQL database.
    pub database: Database,
    /// The Secrets the component reads (which ones depends on the component; the rules say).
    #[serde(default)]
    pub secrets: ComponentSecrets,
    /// Scale between minReplicas and maxReplicas on CPU (a HorizontalPodAutoscaler); replaces replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    /// Extra non-secret settings, by the service's environment variable name (its `--help` lists them), e.g.
    /// ORDER_HOLD_SECONDS: "600". They go into the component's ConfigMap; a change rolls the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    #[x_kube(validation = Rule::new("self.all(k, k.matches('^[A-Z][A-Z0-9_]{0,63}$'))").message("config keys are environment variable names such as ORDER_HOLD_SECONDS: upper-case letters, digits and '_', starting with a letter"))]
    #[x_kube(validation = Rule::new("self.all(k, self[k].size() <= 1024)").message("config values are at most 1024 characters"))]
    pub config: BTreeMap<String, String>,
    /// Where the component's pods (its Deployment's and its migration Jobs') run; replaces `spec.placement`
    /// for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// Where a component's database comes from. Set exactly one.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.urlSecretKeyRef) ? 1 : 0) + (has(self.cloudNativePG) ? 1 : 0) == 1").message("database: set exactly one of urlSecretKeyRef (an existing database) or cloudNativePG (a database the CloudNativePG operator provisions)"))]
pub struct Database {
    /// Secret key holding the PostgreSQL URL, e.g. postgres://user:password@host:5432/ticketing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret_key_ref: Option<SecretKeyRef>,
    /// A PostgreSQL cluster the CloudNativePG operator provisions (it must be installed; the operator detects
    /// it and reports a missing one in the Stalled condition).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "cloudNativePG")]
    pub cloud_native_pg: Option<CloudNativePg>,
}

/// A CloudNativePG `Cluster` with one database owned by one user; the URL comes from its `<cluster>-app`
/// Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudNativePg {
    /// PostgreSQL instances (1 primary, the rest hot standbys).
    #[serde(default = "default_instances")]
    #[schemars(range(min = 1, max = 9))]
    pub instances: i32,
    /// Size of each instance's volume.
    #[serde(default = "default_storage")]
    #[schemars(length(min = 1, max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).isGreaterThan(quantity('0'))").message("database.cloudNativePG.storageSize must be a positive quantity such as 1Gi or 500Mi"))]
    pub storage_size: String,
    /// Storage class of the volumes; the cluster's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub storage_class: Option<String>,
}

fn default_instances() -> i32 {
    1
}
fn default_storage() -> String {
    "1Gi".into()
}

/// The Secrets a component reads. ticketing, gateAcl and cms: authServiceKey (optional); gateAcl: signingKey;
/// auth: signingKeys and bootstrapAdmin.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSecrets {
    /// The Ed25519 key that signs QR codes: PKCS#8 PEM or the base64 of its seed (SIGNING_KEY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SecretKeyRef>,
    /// The Ed25519 keys of access tokens, oldest first; all verify, the last signs (mounted as files,
    /// SIGNING_KEY_FILES).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub signing_keys: Vec<SecretKeyRef>,
    /// The first admin, created when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// The component's own API key at the auth service (scope auth:introspect; mounted as a file,
    /// AUTH_SERVICE_KEY_FILE; the auth service's migration registers it). When ticketing or gateAcl names
    /// none, the operator generates one, once, into the Secret `<name>-service-keys`; the CMS needs none (it
    /// accepts access tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_service_key: Option<SecretKeyRef>,
}

/// The first admin of the auth service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapAdmin {
    /// The admin's user name.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-zA-Z0-9._@-]+$"))]
    pub username: String,
    /// Secret key holding the admin's password (at least 12 characters; mounted as a file).
    pub password: SecretKeyRef,
}

/// CPU-based autoscaling of a component.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minReplicas <= self.maxReplicas").message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas"))]
pub struct Autoscaling {
    /// Fewest pods (2 keeps the component up while one is drained).
    #[serde(default = "default_min_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: i32,
    /// Most pods.
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,
    /// Average CPU use, in percent of the requested CPU, the autoscaler aims at.
    #[serde(default = "default_target_cpu", rename = "targetCPUUtilizationPercent")]
    #[schemars(range(min = 10, max = 100))]
    pub target_cpu_utilization_percent: i32,
}

fn default_min_replicas() -> i32 {
    2
}
fn default_target_cpu() -> i32 {
    70
}

/// The external entry: one host name for the CMS (`/`) and the public APIs (orders, events, scans, login).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The host name clients use, e.g. tickets.example.com.
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new(r"self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message("spec.entry.host must be a lower-case DNS name such as tickets.example.com: no scheme, no port, no path, no wildcard"))]
    pub host: String,
    /// Secret (type kubernetes.io/tls) holding the host's certificate; plain HTTP without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub tls_secret_name: Option<String>,
    /// The Gateway the HTTPRoute attaches to (used when the Gateway API is installed; without it, an Ingress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayRef>,
    /// IngressClass of the Ingress (used when there is no Gateway API or no gateway); the default class when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub ingress_class_name: Option<String>,
}

/// A Gateway API `Gateway`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRef {
    /// Name of the Gateway.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Gateway; the TicketingService's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub namespace: Option<String>,
    /// The Gateway's listener to attach to; all that accept the route when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
}

/// The peers outside the system the NetworkPolicies admit.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Emit the NetworkPolicies (each service reachable only from the entry and its callers; each reaching
    /// only its database, the broker and the auth service).
    #[serde(default = "default_true")]
    pub policies: bool,
    /// Namespace of the entry's proxies (the ingress controller or the Gateway's pods), e.g. ingress-nginx.
    /// Without it, the CMS and the public APIs admit traffic from any namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub entry_namespace: Option<String>,
    /// Namespace of Prometheus, admitted to every component's /metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub monitoring_namespace: Option<String>,
    /// TCP port of the databases named by a URL Secret (their address is unknown to the operator).
    #[serde(default = "default_database_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub database_port: i32,
}

fn default_true() -> bool {
    true
}
fn default_database_port() -> i32 {
    5432
}

/// Thresholds of the alerts (a PrometheusRule, when the prometheus-operator is installed).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.labels) || !('severity' in self.labels || 'namespace' in self.labels || 'alertname' in self.labels || 'component' in self.labels)").message("alerts.labels must not set severity, namespace, component or alertname: the operator sets them"))]
pub struct Alerts {
    /// Emit the ServiceMonitor and the PrometheusRule.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Share of a component's requests answered 5xx over 5 minutes, in percent, above which it alerts.
    #[serde(default = "default_error_rate")]
    #[schemars(range(min = 1, max = 100))]
    pub error_rate_percent: i32,
    /// p99 latency of order requests (POST /v1/orders) above which it alerts, in milliseconds.
    #[serde(default = "default_order_p99")]
    #[schemars(range(min = 1, max = 60000))]
    pub order_p99_milliseconds: i32,
    /// p99 latency of gate scans (POST /v1/scans) above which it alerts, in milliseconds.
    #[serde(default = "default_scan_p99")]
    #[schemars(range(min = 1, max = 60000))]
    pub scan_p99_milliseconds: i32,
    /// Age of the oldest unpublished outbox message (the saga's backlog) above which it alerts, in seconds.
    #[serde(default = "default_backlog_age")]
    #[schemars(range(min = 1, max = 86400))]
    pub saga_backlog_seconds: i32,
    /// Messages dead-lettered within 15 minutes above which it alerts (0: any dead letter alerts).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000000))]
    pub dead_letters: i32,
    /// Extra labels on every alert (e.g. team: ticketing), for routing in Alertmanager.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 16))]
    pub labels: BTreeMap<String, String>,
}

fn default_error_rate() -> i32 {
    5
}
fn default_order_p99() -> i32 {
    1000
}
fn default_scan_p99() -> i32 {
    300
}
fn default_backlog_age() -> i32 {
    60
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            enabled: true,
            error_rate_percent: default_error_rate(),
            order_p99_milliseconds: default_order_p99(),
            scan_p99_milliseconds: default_scan_p99(),
            saga_backlog_seconds: default_backlog_age(),
            dead_letters: 0,
            labels: BTreeMap::new(),
        }
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            policies: true,
            entry_namespace: None,
            monitoring_namespace: None,
            database_port: default_database_port(),
        }
    }
}
