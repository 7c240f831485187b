//! A component's workload objects: its ConfigMap (the non-secret settings), its migration Job (`migrate`, the
//! seed's one-off admin process), its Deployment (`serve`: the restricted profile, probes on `/healthz` and
//! `/readyz`, a rolling update that never lowers the ready count, topology spread, the ConfigMap's hash on
//! the pod template), its Service, PodDisruptionBudget and, with autoscaling, its HorizontalPodAutoscaler.
//!
//! Pure: the spec in, objects out. Which image the Deployment runs is the rollout plan's decision.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
            MetricTarget, ResourceMetricSource,
        },
        batch::v1::{Job, JobSpec},
        core::v1::{
            ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource,
            HTTPGetAction, Lifecycle, LifecycleHandler, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Service,
            ServicePort, ServiceSpec, SleepAction, TopologySpreadConstraint, VolumeMount,
        },
        policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};
use microfleet_crds::{labels, ticketingservice::TicketingService};
use sha2::{Digest, Sha256};

use super::{
    build::{child_labels, child_meta, serving_selector, BuildError},
    component::{ComponentKind, HTTP_PORT},
    config::{
        config_data, migrate_env_vars, secret_env_vars, secret_files_volume, termination_grace_seconds, SECRETS_DIR,
        SECRETS_VOLUME,
    },
    service_keys::registered_keys,
};
use crate::pod::{restricted_container_security, restricted_pod, short_hash, truncate};

/// Pods a component runs when the spec says neither replicas nor autoscaling.
pub const DEFAULT_REPLICAS: i32 = 2;
/// Seconds a stopping pod keeps serving before SIGTERM, so the endpoints drop it first (no failed request
/// during a rollout).
const PRE_STOP_SECONDS: i64 = 5;
/// Seconds a new pod must stay ready before it counts as available (and the rollout goes on).
const MIN_READY_SECONDS: i32 = 5;
/// Attempts of a migration Job before it counts as failed.
const MIGRATION_BACKOFF_LIMIT: i32 = 3;
/// The longest a migration may run, in seconds.
const MIGRATION_DEADLINE_SECONDS: i64 = 900;
const CONTAINER: &str = "service";

/// The component's ConfigMap: every non-secret setting, as environment variables.
pub fn build_config_map(ts: &TicketingService, kind: ComponentKind) -> Result<ConfigMap, BuildError> {
    Ok(ConfigMap {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        data: Some(config_data(ts, kind)),
        ..Default::default()
    })
}

/// The hash of what the pods read at start that is not in the pod template itself: the ConfigMap's data
/// (the Secrets' names are in the template; their values are not watched).
pub fn config_hash(config_map: &ConfigMap) -> String {
    let mut digest = Sha256::new();
    for (key, value) in config_map.data.iter().flatten() {
        digest.update(key.as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    digest.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The name of the migration Job of `image`: one Job per image, so a new version migrates once, first. The
/// auth service's also changes with the services' keys it registers (which Secret keys), so a key the spec
/// names anew is registered before the pods that use it start.
pub fn migration_job_name(ts: &TicketingService, kind: ComponentKind, image: &str) -> String {
    let mut inputs = image.to_string();
    if kind == ComponentKind::Auth {
        for (name, key) in registered_keys(ts) {
            inputs.push_str(&format!("\n{name}={}/{}", key.name, key.key));
        }
    }
    format!("{}-migrate-{}", truncate(&kind.name(ts), 45), short_hash(&inputs))
}

/// The migration Job of `image`: `<binary> migrate` against the component's database, with its settings.
pub fn build_migration_job(ts: &TicketingService, kind: ComponentKind, image: &str) -> Result<Job, BuildError> {
    let name = migration_job_name(ts, kind, image);
    let mut pod = pod_spec(ts, kind, image, "migrate", None);
    pod.restart_policy = Some("Never".into());
    Ok(Job {
        metadata: child_meta(ts, name, Some(kind), Some(labels::ROLE_MIGRATE))?,
        spec: Some(JobSpec {
            backoff_limit: Some(MIGRATION_BACKOFF_LIMIT),
            active_deadline_seconds: Some(MIGRATION_DEADLINE_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(child_labels(ts, Some(kind), Some(labels::ROLE_MIGRATE))),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The component's Deployment running `image` (`<binary> serve`). Replicas are the spec's (or the default)
/// unless autoscaling is set: then the autoscaler owns them and the Deployment leaves the field alone.
pub fn build_deployment(
    ts: &TicketingService,
    kind: ComponentKind,
    image: &str,
    config_map: &ConfigMap,
) -> Result<Deployment, BuildError> {
    let component = kind.spec(&ts.spec);
    let selector = serving_selector(ts, kind);
    let mut pod_labels = child_labels(ts, Some(kind), Some(labels::ROLE_SERVE));
    pod_labels.extend(selector.clone());
    let replicas = match component.autoscaling {
        Some(_) => None,
        None => Some(component.replicas.unwrap_or(DEFAULT_REPLICAS)),
    };
    let spread = |topology_key: &str| TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.into(),
        when_unsatisfiable: "ScheduleAnyway".into(),
        label_selector: Some(LabelSelector { match_labels: Some(selector.clone()), ..Default::default() }),
        match_label_keys: Some(vec!["pod-template-hash".into()]),
        ..Default::default()
    };
    let mut pod = pod_spec(ts, kind, image, "serve", Some(config_map));
    pod.topology_spread_constraints =
        Some(vec![spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")]);
    pod.termination_grace_period_seconds = Some(termination_grace_seconds(ts, kind, PRE_STOP_SECONDS));
    Ok(Deployment {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        spec: Some(DeploymentSpec {
            replicas,
            selector: LabelSelector { match_labels: Some(selector.clone()), ..Default::default() },
            min_ready_seconds: Some(MIN_READY_SECONDS),
            revision_history_limit: Some(5),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(labels::CONFIG_HASH.to_string(), config_hash(config_map))])),
                    ..Default::default()
                }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The pod of a component running `<binary> <command>`: the restricted profile, the ConfigMap's settings,
/// the Secrets' values and files, a writable /tmp, the component's placement (else the spec's). Serving pods (`probes_from` given) also get the port,
/// the probes and a pre-stop pause.
fn pod_spec(
    ts: &TicketingService,
    kind: ComponentKind,
    image: &str,
    command: &str,
    serving: Option<&ConfigMap>,
) -> PodSpec {
    let component = kind.spec(&ts.spec);
    let migrate = serving.is_none();
    let files = secret_files_volume(ts, kind, migrate);
    let mut mounts = vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }];
    if files.is_some() {
        mounts.push(VolumeMount {
            name: SECRETS_VOLUME.into(),
            mount_path: SECRETS_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    let probe = |path: &str, period: i32, failures: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(failures),
        ..Default::default()
    };
    let mut container = Container {
        name: CONTAINER.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec![command.into()]),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource { name: kind.name(ts), optional: Some(false) }),
            ..Default::default()
        }]),
        env: Some(if migrate {
            secret_env_vars(ts, kind).into_iter().chain(migrate_env_vars(ts, kind)).collect()
        } else {
            secret_env_vars(ts, kind)
        }),
        resources: Some(component.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(restricted_container_security()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(mounts),
        ..Default::default()
    };
    if serving.is_some() {
        container.ports = Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]);
        container.startup_probe = Some(probe("/healthz", 2, 30));
        container.liveness_probe = Some(probe("/healthz", 10, 3));
        container.readiness_probe = Some(probe("/readyz", 5, 2));
        container.lifecycle = Some(Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: PRE_STOP_SECONDS }),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let mut volumes = vec![k8s_openapi::api::core::v1::Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity("64Mi".into())), ..Default::default() }),
        ..Default::default()
    }];
    volumes.extend(files);
    restricted_pod(container, volumes, component.placement.as_ref().or(ts.spec.placement.as_ref()))
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity("100m".into())),
            ("memory".into(), Quantity("128Mi".into())),
        ])),
        limits: Some(BTreeMap::from([("memory".into(), Quantity("512Mi".into()))])),
        ..Default::default()
    }
}

/// The component's Service: its name is how the others (and the entry) reach it.
pub fn build_service(ts: &TicketingService, kind: ComponentKind) -> Result<Service, BuildError> {
    Ok(Service {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        spec: Some(ServiceSpec {
            selector: Some(serving_selector(ts, kind)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    })
}

/// The component's PodDisruptionBudget: a drain takes at most one pod at a time.
pub fn build_disruption_budget(ts: &TicketingService, kind: ComponentKind) -> Result<PodDisruptionBudget, BuildError> {
    Ok(PodDisruptionBudget {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector { match_labels: Some(serving_selector(ts, kind)), ..Default::default() }),
            ..Default::default()
        }),
        status: None,
    })
}

/// The component's HorizontalPodAutoscaler (autoscaling/v2, on CPU), when the spec sets autoscaling.
pub fn build_autoscaler(
    ts: &TicketingService,
    kind: ComponentKind,
) -> Result<Option<HorizontalPodAutoscaler>, BuildError> {
    let Some(autoscaling) = &kind.spec(&ts.spec).autoscaling else { return Ok(None) };
    Ok(Some(HorizontalPodAutoscaler {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: kind.name(ts),
            },
            min_replicas: Some(autoscaling.min_replicas),
            max_replicas: autoscaling.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(autoscaling.target_cpu_utilization_percent),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    }))
}
