//! Build: the child objects of a ClusterFetch — its CronJob, a run-now Job and a failure-notifier Job.
//!
//! Pure: takes values, returns objects. No client, no clock, no I/O; everything here is unit-tested with
//! plain values.

use std::collections::BTreeMap;

use crate::pod::{plain_env, restricted_container_security, restricted_pod_security, secret_env, short_hash, truncate};
use k8s_openapi::{
    api::{
        batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec},
        core::v1::{
            Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec, PodTemplateSpec,
            ResourceRequirements, Volume, VolumeMount,
        },
    },
    apimachinery::pkg::{api::resource::Quantity, apis::meta::v1::OwnerReference},
};
use kube::{api::ObjectMeta, Resource, ResourceExt};
use microfleet_crds::{
    clusterfetch::{ClusterFetch, Credentials, KafkaSink, RunOutcome, RunRecord},
    contract::{env, FetchPlan, Notification},
    labels,
};

/// Operator-wide settings the builders need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildConfig {
    /// Fetcher image used when the spec names none, and always for the notifier.
    pub fetcher_image: String,
    /// A Prometheus Pushgateway the runs push their figures to, if any.
    pub pushgateway_url: Option<String>,
    /// Labels for every PrometheusRule the operator emits (e.g. `release: kube-prometheus-stack`).
    pub rule_labels: BTreeMap<String, String>,
}

impl BuildConfig {
    /// Settings with this fetcher image and nothing optional.
    pub fn new(fetcher_image: impl Into<String>) -> BuildConfig {
        BuildConfig { fetcher_image: fetcher_image.into(), pushgateway_url: None, rule_labels: BTreeMap::new() }
    }
}

/// Why an object could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The ClusterFetch has no name, namespace or uid (it was not read from the API).
    #[error("ClusterFetch is missing metadata.{0}")]
    MissingMetadata(&'static str),
    /// The CronJob has no uid (it was not read back from the API).
    #[error("CronJob {0} has no uid yet")]
    CronJobNotApplied(String),
    /// Serialising the fetch plan failed.
    #[error("cannot serialise the fetch plan: {0}")]
    Plan(#[from] serde_json::Error),
}

const CONTAINER_NAME: &str = "fetcher";
const TERMINATION_LOG: &str = "/dev/termination-log";
/// How long a finished notifier Job stays for inspection.
const NOTIFIER_TTL_SECONDS: i32 = 86_400;
/// How long a notifier may try.
const NOTIFIER_DEADLINE_SECONDS: i64 = 300;

/// Labels every child of `cf` carries (selectors use the `microfleet.io/clusterfetch` one).
pub fn child_labels(cf: &ClusterFetch, role: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), "microfleet-fetcher".to_string()),
        ("app.kubernetes.io/instance".to_string(), cf.name_any()),
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::CLUSTER_FETCH.to_string(), cf.name_any()),
    ]);
    if let Some(role) = role {
        out.insert(labels::ROLE.to_string(), role.to_string());
    }
    out
}

fn owner_of(cf: &ClusterFetch) -> Result<OwnerReference, BuildError> {
    cf.controller_owner_ref(&()).ok_or(BuildError::MissingMetadata("uid"))
}

fn namespace_of(cf: &ClusterFetch) -> Result<String, BuildError> {
    cf.namespace().ok_or(BuildError::MissingMetadata("namespace"))
}

/// The item count of the newest successful run in `status.recentRuns` (newest first), for the drop guard.
fn last_success_items(cf: &ClusterFetch) -> Option<i64> {
    let runs = &cf.status.as_ref()?.recent_runs;
    runs.iter().find(|run| run.outcome == RunOutcome::Succeeded).and_then(|run| run.items)
}

/// The CronJob that runs the fetcher on the ClusterFetch's schedule. Its name is the ClusterFetch's.
pub fn build_cronjob(cf: &ClusterFetch, config: &BuildConfig) -> Result<CronJob, BuildError> {
    let spec = &cf.spec;
    let plan = FetchPlan {
        source: spec.source.clone(),
        sink: spec.sink.clone(),
        retry: spec.retry.clone(),
        checks: spec.checks.clone(),
    };
    let mut env_vars = vec![
        plain_env(env::FETCH_PLAN, serde_json::to_string(&plan)?),
        EnvVar {
            name: env::RUN_ID.into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.labels['batch.kubernetes.io/job-name']".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        plain_env(env::CLUSTER_FETCH, format!("{}/{}", namespace_of(cf)?, cf.name_any())),
        plain_env(env::TERMINATION_LOG, TERMINATION_LOG.into()),
        plain_env(env::LOG_FORMAT, "json".into()),
    ];
    if let Some(url) = &config.pushgateway_url {
        env_vars.push(plain_env(env::PUSHGATEWAY_URL, url.clone()));
    }
    if let Some(items) = last_success_items(cf).filter(|_| spec.checks.max_drop_percent.is_some()) {
        env_vars.push(plain_env(env::LAST_SUCCESS_ITEMS, items.to_string()));
    }
    env_vars.extend(credential_env(spec.source.credentials.as_ref(), CredentialEnv::SOURCE));
    if let Some(http) = &spec.sink.http {
        env_vars.extend(credential_env(http.credentials.as_ref(), CredentialEnv::SINK));
    }
    if let Some(kafka) = &spec.sink.kafka {
        env_vars.extend(kafka_env(kafka));
    }
    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(spec.image.clone().unwrap_or_else(|| config.fetcher_image.clone())),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec!["run".into()]),
        env: Some(env_vars),
        resources: Some(spec.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(restricted_container_security()),
        termination_message_path: Some(TERMINATION_LOG.into()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }]),
        ..Default::default()
    };
    let run_labels = child_labels(cf, Some(labels::ROLE_RUN));
    let job_spec = JobSpec {
        backoff_limit: Some(0),
        active_deadline_seconds: Some(spec.active_deadline_seconds),
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(run_labels.clone()), ..Default::default() }),
            spec: Some(restricted_pod(container, spec.service_account_name.clone())),
        },
        ..Default::default()
    };
    Ok(CronJob {
        metadata: ObjectMeta {
            name: Some(cf.name_any()),
            namespace: Some(namespace_of(cf)?),
            labels: Some(child_labels(cf, None)),
            owner_references: Some(vec![owner_of(cf)?]),
            ..Default::default()
        },
        spec: Some(CronJobSpec {
            schedule: spec.schedule.clone(),
            time_zone: spec.time_zone.clone(),
            suspend: Some(spec.suspend),
            concurrency_policy: Some(format!("{:?}", spec.concurrency_policy)),
            starting_deadline_seconds: spec.starting_deadline_seconds,
            successful_jobs_history_limit: Some(spec.successful_runs_history_limit),
            failed_jobs_history_limit: Some(spec.failed_runs_history_limit),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(run_labels), ..Default::default() }),
                spec: Some(job_spec),
            },
        }),
        status: None,
    })
}

/// Name of the Job a run-now request with this annotation value starts (stable: one Job per value).
pub fn run_now_job_name(cf_name: &str, value: &str) -> String {
    format!("{}-now-{}", truncate(cf_name, 50), short_hash(value))
}

/// A Job from the CronJob's template, as `kubectl create job --from=cronjob/<name>` makes it: owned by the
/// CronJob (so its concurrency policy and history limits count it) and annotated as manual.
pub fn build_run_now_job(cronjob: &CronJob, run_now_value: &str) -> Result<Job, BuildError> {
    let name = cronjob.name_any();
    let uid = cronjob.metadata.uid.clone().ok_or_else(|| BuildError::CronJobNotApplied(name.clone()))?;
    let template = cronjob.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let template_meta = template.metadata.unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(labels::INSTANTIATE.into(), "manual".into());
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(run_now_job_name(&name, run_now_value)),
            namespace: cronjob.namespace(),
            labels: template_meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name,
                uid,
                controller: Some(true),
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    })
}

/// Name of the notifier Job of a run (stable: creating it twice is refused, so a run is notified once).
pub fn notifier_job_name(cf_name: &str, run_id: &str) -> String {
    format!("{}-notify-{}", truncate(cf_name, 45), short_hash(run_id))
}

/// The short Job that sends the failure notification of one run. Only this pod gets the webhook Secret.
/// It uses the operator's fetcher image, so it works even when the run failed because of the spec's image.
pub fn build_notifier_job(
    cf: &ClusterFetch,
    run: &RunRecord,
    consecutive_failures: i32,
    config: &BuildConfig,
) -> Result<Option<Job>, BuildError> {
    let Some(notify) = &cf.spec.notify else { return Ok(None) };
    let notification = Notification {
        namespace: namespace_of(cf)?,
        cluster_fetch: cf.name_any(),
        run_id: run.job_name.clone(),
        trigger: run.trigger,
        failure_class: run.failure_class.unwrap_or(microfleet_crds::contract::FailureClass::Crashed),
        message: run.message.clone().unwrap_or_else(|| "the run failed without a message".into()),
        consecutive_failures,
        start_time: run.start_time.as_ref().map(|t| t.0.to_string()),
        completion_time: run.completion_time.as_ref().map(|t| t.0.to_string()),
    };
    let container = Container {
        name: "notifier".into(),
        image: Some(config.fetcher_image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(vec!["notify".into()]),
        env: Some(vec![
            plain_env(env::NOTIFICATION, serde_json::to_string(&notification)?),
            plain_env(env::NOTIFY_FORMAT, serde_json::to_value(notify.format)?.as_str().unwrap_or("generic").into()),
            plain_env(env::LOG_FORMAT, "json".into()),
            secret_env(env::NOTIFY_WEBHOOK_URL, &notify.webhook_url),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), Quantity("10m".into())),
                ("memory".into(), Quantity("16Mi".into())),
            ])),
            limits: Some(BTreeMap::from([("memory".into(), Quantity("64Mi".into()))])),
            ..Default::default()
        }),
        security_context: Some(restricted_container_security()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        volume_mounts: Some(vec![VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() }]),
        ..Default::default()
    };
    let mut job_labels = child_labels(cf, Some(labels::ROLE_NOTIFIER));
    job_labels.insert(labels::NOTIFIES_RUN.into(), truncate(&run.job_name, 63).to_string());
    Ok(Some(Job {
        metadata: ObjectMeta {
            name: Some(notifier_job_name(&cf.name_any(), &run.job_name)),
            namespace: Some(namespace_of(cf)?),
            labels: Some(job_labels.clone()),
            owner_references: Some(vec![owner_of(cf)?]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            active_deadline_seconds: Some(NOTIFIER_DEADLINE_SECONDS),
            ttl_seconds_after_finished: Some(NOTIFIER_TTL_SECONDS),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(job_labels), ..Default::default() }),
                spec: Some(restricted_pod(container, None)),
            },
            ..Default::default()
        }),
        status: None,
    }))
}

fn restricted_pod(container: Container, service_account: Option<String>) -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".into()),
        service_account_name: service_account,
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(restricted_pod_security()),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource { size_limit: Some(Quantity("64Mi".into())), ..Default::default() }),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity("50m".into())),
            ("memory".into(), Quantity("64Mi".into())),
        ])),
        limits: Some(BTreeMap::from([("memory".into(), Quantity("256Mi".into()))])),
        ..Default::default()
    }
}

/// The env var names for one endpoint's credentials.
struct CredentialEnv {
    bearer: &'static str,
    username: &'static str,
    password: &'static str,
    api_key: &'static str,
}

impl CredentialEnv {
    const SOURCE: CredentialEnv = CredentialEnv {
        bearer: env::SOURCE_BEARER_TOKEN,
        username: env::SOURCE_BASIC_USERNAME,
        password: env::SOURCE_BASIC_PASSWORD,
        api_key: env::SOURCE_API_KEY,
    };
    const SINK: CredentialEnv = CredentialEnv {
        bearer: env::SINK_BEARER_TOKEN,
        username: env::SINK_BASIC_USERNAME,
        password: env::SINK_BASIC_PASSWORD,
        api_key: env::SINK_API_KEY,
    };
}

fn credential_env(credentials: Option<&Credentials>, names: CredentialEnv) -> Vec<EnvVar> {
    let Some(credentials) = credentials else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(token) = &credentials.bearer_token {
        out.push(secret_env(names.bearer, token));
    }
    if let Some(basic) = &credentials.basic {
        out.push(secret_env(names.username, &basic.username));
        out.push(secret_env(names.password, &basic.password));
    }
    if let Some(api_key) = &credentials.api_key {
        out.push(secret_env(names.api_key, &api_key.secret_key_ref));
    }
    out
}

/// The Kafka sink's SASL credentials and CA, each from its `secretKeyRef` (its other settings are in the plan).
fn kafka_env(kafka: &KafkaSink) -> Vec<EnvVar> {
    let sasl = kafka.sasl.iter().flat_map(|sasl| {
        [
            secret_env(env::SINK_KAFKA_SASL_USERNAME, &sasl.username),
            secret_env(env::SINK_KAFKA_SASL_PASSWORD, &sasl.password),
        ]
    });
    let ca = kafka.tls.as_ref().and_then(|tls| tls.ca_secret_key_ref.as_ref());
    sasl.chain(ca.map(|ca| secret_env(env::SINK_KAFKA_CA_PEM, ca))).collect()
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
