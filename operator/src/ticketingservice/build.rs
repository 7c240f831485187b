//! Build: every child object of a TicketingService, from the spec, what discovery found and the rollout plan
//! — the settings, the names, the labels and the owner every child shares, and the assembly of the lot.
//!
//! Pure: takes values, returns objects (typed for built-in kinds, JSON for the optional APIs' kinds, all as
//! JSON here, ready for server-side apply). No client, no clock, no I/O.

use std::collections::BTreeMap;

use kube::{api::ObjectMeta, Resource, ResourceExt};
use microfleet_crds::{labels, ticketingservice::TicketingService};
use serde_json::Value;

use crate::apply::stamp;

use super::{
    component::ComponentKind,
    database::build_cnpg_cluster,
    discovery::Discovered,
    entry::build_entry,
    monitoring::{build_prometheus_rule, build_service_monitor},
    network::build_network_policies,
    rollout::Plan,
    topics::build_topics,
    workload::{
        build_autoscaler, build_config_map, build_deployment, build_disruption_budget, build_migration_job,
        build_service,
    },
};

/// The `app.kubernetes.io/part-of` of every child.
pub const PART_OF: &str = "microfleet-ticketing";

/// Operator-wide settings of the TicketingService builders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// Registry and path of the components' default images, e.g. `ghcr.io/microfleet` (the image is
    /// `<prefix>/<binary>:<version>`).
    pub image_prefix: String,
    /// Tag of the default images: the operator's version.
    pub version: String,
    /// Labels for every PrometheusRule and ServiceMonitor (e.g. `release: kube-prometheus-stack`).
    pub monitoring_labels: BTreeMap<String, String>,
}

impl BuildConfig {
    /// Settings with these default images and no extra labels.
    pub fn new(image_prefix: impl Into<String>, version: impl Into<String>) -> BuildConfig {
        BuildConfig { image_prefix: image_prefix.into(), version: version.into(), monitoring_labels: BTreeMap::new() }
    }

    /// The image a component runs: the spec's, else `<prefix>/<binary>:<version>`.
    pub fn image(&self, ts: &TicketingService, kind: ComponentKind) -> String {
        kind.spec(&ts.spec).image.clone().unwrap_or_else(|| {
            format!("{}/{}:{}", self.image_prefix.trim_end_matches('/'), kind.binary(), self.version)
        })
    }
}

/// Why an object could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The TicketingService has no name, namespace or uid (it was not read from the API).
    #[error("TicketingService is missing metadata.{0}")]
    MissingMetadata(&'static str),
    /// An object did not serialise to JSON.
    #[error("cannot serialise a child object: {0}")]
    Serialise(#[from] serde_json::Error),
}

/// Labels every child carries; `component` and `role` narrow them to one component's objects or pods.
pub fn child_labels(
    ts: &TicketingService,
    component: Option<ComponentKind>,
    role: Option<&str>,
) -> BTreeMap<String, String> {
    let name = ts.name_any();
    let mut out = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), component.map_or(PART_OF, ComponentKind::binary).to_string()),
        ("app.kubernetes.io/instance".to_string(), name.clone()),
        ("app.kubernetes.io/part-of".to_string(), PART_OF.to_string()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::TICKETING_SERVICE.to_string(), name),
    ]);
    if let Some(component) = component {
        out.insert(labels::COMPONENT.into(), component.suffix().into());
    }
    if let Some(role) = role {
        out.insert(labels::ROLE.into(), role.into());
    }
    out
}

/// The labels that select a component's serving pods (Deployment, Service, PodDisruptionBudget).
pub fn serving_selector(ts: &TicketingService, kind: ComponentKind) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::TICKETING_SERVICE.to_string(), ts.name_any()),
        (labels::COMPONENT.to_string(), kind.suffix().to_string()),
        (labels::ROLE.to_string(), labels::ROLE_SERVE.to_string()),
    ])
}

/// Metadata of a child: its name, the TicketingService's namespace, the labels and the controller owner
/// reference (so the children go with the TicketingService).
pub fn child_meta(
    ts: &TicketingService,
    name: String,
    component: Option<ComponentKind>,
    role: Option<&str>,
) -> Result<ObjectMeta, BuildError> {
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(ts.namespace().ok_or(BuildError::MissingMetadata("namespace"))?),
        labels: Some(child_labels(ts, component, role)),
        owner_references: Some(vec![ts.controller_owner_ref(&()).ok_or(BuildError::MissingMetadata("uid"))?]),
        ..Default::default()
    })
}

/// Every child of `ts` as JSON objects (apiVersion and kind set, stamped with their applied hash), in the
/// order they are applied: databases,
/// topics, then per component its ConfigMap, migration Job, Deployment (once its migration allows), Service,
/// PodDisruptionBudget and autoscaler; then the entry, the NetworkPolicies and the monitoring objects.
/// Objects of an optional API that is not installed are left out (the status says what is missing).
pub fn build_children(
    ts: &TicketingService,
    discovered: &Discovered,
    plan: &Plan,
    config: &BuildConfig,
) -> Result<Vec<Value>, BuildError> {
    let mut out = Vec::new();
    if discovered.cloud_native_pg {
        for kind in ComponentKind::ALL {
            out.extend(build_cnpg_cluster(ts, kind)?);
        }
    }
    out.extend(build_topics(ts, discovered)?);
    for kind in ComponentKind::ALL {
        let step = plan.component(kind);
        let config_map = build_config_map(ts, kind)?;
        out.push(serde_json::to_value(&config_map)?);
        if step.migrate {
            out.push(serde_json::to_value(build_migration_job(ts, kind, &step.desired_image)?)?);
        }
        if let Some(image) = &step.deploy_image {
            out.push(serde_json::to_value(build_deployment(ts, kind, image, &config_map)?)?);
        }
        out.push(serde_json::to_value(build_service(ts, kind)?)?);
        out.push(serde_json::to_value(build_disruption_budget(ts, kind)?)?);
        if let Some(autoscaler) = build_autoscaler(ts, kind)? {
            out.push(serde_json::to_value(autoscaler)?);
        }
    }
    out.push(build_entry(ts, discovered)?);
    for policy in build_network_policies(ts)? {
        out.push(serde_json::to_value(policy)?);
    }
    if discovered.prometheus_operator && ts.spec.alerts.enabled {
        out.push(build_service_monitor(ts, &config.monitoring_labels)?);
        out.push(build_prometheus_rule(ts, &config.monitoring_labels)?);
    }
    out.iter_mut().for_each(stamp);
    Ok(out)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
