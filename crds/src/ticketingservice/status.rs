//! `TicketingService` status: what the operator observed of each component's rollout and migration, of the
//! topics and of the entry.
//!
//! Written only by the operator (derived in a pure function from the children it observed).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a TicketingService. Conditions follow kstatus: `Ready`, `Reconciling`, `Stalled`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TicketingServiceStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Current conditions (Ready, Reconciling, Stalled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Components fully rolled out and available, of four, e.g. "3/4".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_components: Option<String>,
    /// Each component's rollout and migration, in the order ticketing, gateAcl, auth, cms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub components: Vec<ComponentStatus>,
    /// The saga's topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<TopicsStatus>,
    /// The external entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryStatus>,
}

/// The rollout of one component.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// The component: ticketing, gateAcl, auth or cms.
    pub name: String,
    /// The image the spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Pods the Deployment wants.
    #[serde(default)]
    pub desired_replicas: i32,
    /// Pods ready.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Pods running the current pod template.
    #[serde(default)]
    pub updated_replicas: i32,
    /// The migration Job of the image the spec asks for.
    #[serde(default)]
    pub migration: MigrationStatus,
    /// Where the component's database stands (CloudNativePG clusters are provisioned first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// Where a migration stands.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MigrationState {
    /// The Job has not been created yet (e.g. its database is not ready).
    #[default]
    Pending,
    /// The Job runs.
    Running,
    /// The Job completed: the Deployment may roll to this image.
    Succeeded,
    /// The Job failed: the Deployment stays on its previous image.
    Failed,
}

/// The migration Job of a component's image.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    /// Where it stands.
    #[serde(default)]
    pub state: MigrationState,
    /// Name of the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Why it failed or waits, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How the topics are provisioned.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TopicsMethod {
    /// Strimzi KafkaTopic resources.
    KafkaTopic,
    /// A Job that creates the missing topics through Kafka's admin API.
    #[default]
    Job,
}

/// Where the topics stand.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TopicsState {
    /// Not all topics are known to exist yet.
    #[default]
    Pending,
    /// Every topic exists.
    Ready,
    /// Provisioning failed (see the message).
    Failed,
}

/// The saga's topics.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TopicsStatus {
    /// How they are provisioned.
    #[serde(default)]
    pub method: TopicsMethod,
    /// Where they stand.
    #[serde(default)]
    pub state: TopicsState,
    /// Topics known to exist.
    #[serde(default)]
    pub ready: i32,
    /// Topics the saga uses.
    #[serde(default)]
    pub total: i32,
    /// Why they are not ready, in one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The external entry.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntryStatus {
    /// HTTPRoute or Ingress.
    pub kind: String,
    /// The URL of the CMS, e.g. https://tickets.example.com/.
    pub url: String,
    /// The load balancer's address (IP or host name), once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Whether the route is accepted (HTTPRoute) or has an address (Ingress).
    #[serde(default)]
    pub ready: bool,
}
