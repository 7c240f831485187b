//! The rollout plan: per component, whether its migration Job may run (its database serves) and which image
//! its Deployment runs — the spec's once that image's migration has succeeded, until then the one it runs
//! now (none on a first install). So a new version migrates first, and a failed migration leaves the
//! running version serving.
//!
//! Pure: the spec, what discovery found and what was observed in; the plan out.

use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job, networking::v1::Ingress};
use microfleet_crds::ticketingservice::{MigrationState, TicketingService};
use serde_json::Value;

use super::{build::BuildConfig, component::ComponentKind, database::cnpg_cluster_ready, discovery::Discovered};

/// The children of one component, as read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct ObservedComponent {
    /// Its Deployment.
    pub deployment: Option<Deployment>,
    /// The migration Job of the image the spec asks for.
    pub migration: Option<Job>,
    /// Its CloudNativePG cluster (when the spec asks for one).
    pub database: Option<Value>,
}

/// The children of a TicketingService, as read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Per component, in [`ComponentKind::ALL`]'s order.
    pub components: [ObservedComponent; 4],
    /// The topic Job of the spec's topics.
    pub topics_job: Option<Job>,
    /// The KafkaTopics.
    pub kafka_topics: Vec<Value>,
    /// The HTTPRoute.
    pub route: Option<Value>,
    /// The Ingress.
    pub ingress: Option<Ingress>,
}

impl Observed {
    /// What was observed of one component.
    pub fn component(&self, kind: ComponentKind) -> &ObservedComponent {
        &self.components[index(kind)]
    }

    /// What was observed of one component, to fill in.
    pub fn component_mut(&mut self, kind: ComponentKind) -> &mut ObservedComponent {
        &mut self.components[index(kind)]
    }
}

fn index(kind: ComponentKind) -> usize {
    ComponentKind::ALL.iter().position(|k| *k == kind).unwrap_or_default()
}

/// The plan of one component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentStep {
    /// The image the spec asks for.
    pub desired_image: String,
    /// Whether its database serves (a URL from a Secret is taken to; a CloudNativePG cluster once ready).
    pub database_ready: bool,
    /// Whether to emit the migration Job of the desired image.
    pub migrate: bool,
    /// Where the migration of the desired image stands.
    pub migration: MigrationState,
    /// The image the Deployment runs; `None`: no Deployment yet (first install, migration not done).
    pub deploy_image: Option<String>,
}

/// The plan of every component, in [`ComponentKind::ALL`]'s order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    steps: Vec<ComponentStep>,
}

impl Plan {
    /// The plan of one component.
    pub fn component(&self, kind: ComponentKind) -> &ComponentStep {
        &self.steps[index(kind)]
    }
}

impl Plan {
    /// The plan once every database serves and every migration of the spec's images has succeeded: every
    /// object in its final form (what `render` shows).
    pub fn settled(ts: &TicketingService, config: &BuildConfig) -> Plan {
        let steps = ComponentKind::ALL
            .into_iter()
            .map(|kind| {
                let desired_image = config.image(ts, kind);
                ComponentStep {
                    deploy_image: Some(desired_image.clone()),
                    desired_image,
                    database_ready: true,
                    migrate: true,
                    migration: MigrationState::Succeeded,
                }
            })
            .collect();
        Plan { steps }
    }
}

/// Where a Job stands: no Job yet, running, complete or failed.
pub fn job_state(job: Option<&Job>) -> MigrationState {
    let Some(job) = job else { return MigrationState::Pending };
    let finished = job.status.iter().flat_map(|s| s.conditions.iter().flatten()).find(|c| {
        (c.type_ == "Complete" || c.type_ == "SuccessCriteriaMet" || c.type_ == "Failed") && c.status == "True"
    });
    match finished {
        Some(c) if c.type_ == "Failed" => MigrationState::Failed,
        Some(_) => MigrationState::Succeeded,
        None => MigrationState::Running,
    }
}

/// The image the Deployment's container runs now.
pub fn deployed_image(deployment: &Deployment) -> Option<String> {
    deployment.spec.as_ref()?.template.spec.as_ref()?.containers.first()?.image.clone()
}

/// Plans every component's rollout.
pub fn plan_rollout(ts: &TicketingService, discovered: &Discovered, observed: &Observed, config: &BuildConfig) -> Plan {
    let steps = ComponentKind::ALL
        .into_iter()
        .map(|kind| {
            let seen = observed.component(kind);
            let desired_image = config.image(ts, kind);
            let database_ready = match &kind.spec(&ts.spec).database.cloud_native_pg {
                None => true,
                Some(_) => discovered.cloud_native_pg && seen.database.as_ref().is_some_and(cnpg_cluster_ready),
            };
            let migration = job_state(seen.migration.as_ref());
            let deploy_image = match migration {
                MigrationState::Succeeded => Some(desired_image.clone()),
                _ => seen.deployment.as_ref().and_then(deployed_image),
            };
            ComponentStep { desired_image, database_ready, migrate: database_ready, migration, deploy_image }
        })
        .collect();
    Plan { steps }
}
