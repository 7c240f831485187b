//! What API discovery found in the cluster: which optional APIs a TicketingService's children may use
//! (Strimzi topics, CloudNativePG databases, the Gateway API, the prometheus-operator).
//!
//! Plain data for the pure builders; asking the API server is the reconcile's (`apply`), never the builders'.

/// The optional APIs installed in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Discovered {
    /// `kafka.strimzi.io/v1beta2` KafkaTopic.
    pub strimzi_topics: bool,
    /// `postgresql.cnpg.io/v1` Cluster.
    pub cloud_native_pg: bool,
    /// `gateway.networking.k8s.io/v1` HTTPRoute.
    pub gateway_api: bool,
    /// `monitoring.coreos.com/v1` ServiceMonitor and PrometheusRule.
    pub prometheus_operator: bool,
}

/// An optional API: its group/version, kind and plural (what discovery looks for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalApi {
    /// Group/version, e.g. `kafka.strimzi.io/v1beta2`.
    pub api_version: &'static str,
    /// Kind, e.g. `KafkaTopic`.
    pub kind: &'static str,
    /// Plural resource name, e.g. `kafkatopics`.
    pub plural: &'static str,
}

/// Strimzi's topics.
pub const KAFKA_TOPIC: OptionalApi =
    OptionalApi { api_version: "kafka.strimzi.io/v1beta2", kind: "KafkaTopic", plural: "kafkatopics" };
/// CloudNativePG's PostgreSQL clusters.
pub const CNPG_CLUSTER: OptionalApi =
    OptionalApi { api_version: "postgresql.cnpg.io/v1", kind: "Cluster", plural: "clusters" };
/// The Gateway API's HTTP routes.
pub const HTTP_ROUTE: OptionalApi =
    OptionalApi { api_version: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", plural: "httproutes" };
/// The prometheus-operator's scrape configuration.
pub const SERVICE_MONITOR: OptionalApi =
    OptionalApi { api_version: "monitoring.coreos.com/v1", kind: "ServiceMonitor", plural: "servicemonitors" };
/// The prometheus-operator's alerting rules.
pub const PROMETHEUS_RULE: OptionalApi =
    OptionalApi { api_version: "monitoring.coreos.com/v1", kind: "PrometheusRule", plural: "prometheusrules" };
