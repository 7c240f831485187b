//! Test fixtures: the example TicketingService as the API server stores it (defaults filled in), and its
//! children as the cluster would show them (Deployments rolled out or not, Jobs finished or not).

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentStatus},
        batch::v1::{Job, JobCondition, JobStatus},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use microfleet_crds::{ticketingservice::TicketingService, validate::validate_ticketing_service_manifest};

use super::{
    build::BuildConfig,
    component::ComponentKind,
    workload::{build_config_map, build_deployment},
};

/// `examples/ticketing-service.yaml`, admitted (defaults filled in) and read back from the API (a uid, a
/// generation).
pub fn ticketing_service() -> TicketingService {
    let manifest: serde_json::Value =
        serde_yaml::from_str(include_str!("../../../examples/ticketing-service.yaml")).unwrap();
    let mut ts = validate_ticketing_service_manifest(&manifest).unwrap();
    ts.metadata.uid = Some("ts-uid-1".into());
    ts.metadata.generation = Some(1);
    ts
}

/// The builders' settings of the tests.
pub fn config() -> BuildConfig {
    BuildConfig::new("registry.local/microfleet", "0.1.0")
}

/// A Job that finished with `condition` (`Complete` or `Failed`), or is running (`None`).
pub fn job(name: &str, condition: Option<&str>) -> Job {
    Job {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        spec: None,
        status: Some(JobStatus {
            conditions: condition.map(|type_| {
                vec![JobCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    reason: Some(if type_ == "Failed" { "BackoffLimitExceeded" } else { "Completed" }.into()),
                    message: Some(
                        if type_ == "Failed" { "Job has reached the specified backoff limit" } else { "" }.into(),
                    ),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        }),
    }
}

/// The component's Deployment running `image`, as the cluster shows it with `ready` of `replicas` pods
/// ready, available and updated (observed generation caught up).
pub fn deployment(ts: &TicketingService, kind: ComponentKind, image: &str, replicas: i32, ready: i32) -> Deployment {
    let config_map = build_config_map(ts, kind).unwrap();
    let mut deployment = build_deployment(ts, kind, image, &config_map).unwrap();
    deployment.metadata.generation = Some(2);
    if let Some(spec) = deployment.spec.as_mut() {
        spec.replicas = Some(replicas);
    }
    deployment.status = Some(DeploymentStatus {
        observed_generation: Some(2),
        replicas: Some(replicas),
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        updated_replicas: Some(ready),
        ..Default::default()
    });
    deployment
}
