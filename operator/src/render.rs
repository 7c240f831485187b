//! Render: the objects the operator would create for a ClusterFetch or a TicketingService manifest, without a
//! cluster.
//!
//! Pure: YAML in, YAML out. Validates the manifest as admission and the operator would (the shared
//! `microfleet_crds::validate`), then uses the same build steps as the reconcile.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use microfleet_crds::{
    clusterfetch::{ClusterFetch, NotificationState, RunOutcome, RunRecord, RunTrigger},
    contract::FailureClass,
    labels,
};

use crate::clusterfetch::{
    alerts::build_prometheus_rule,
    build::{build_cronjob, build_notifier_job, build_run_now_job, BuildConfig, BuildError},
    validate::SpecProblem,
};
use crate::ticketingservice::{
    build::{build_children, BuildConfig as TicketingBuildConfig},
    discovery::Discovered,
    rollout::Plan,
    validate::validate as validate_ticketing_service,
};
use microfleet_crds::validate::{validate_manifest, validate_ticketing_service_manifest};

/// Why a manifest could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The file is not a YAML document.
    #[error("not a ClusterFetch manifest: {0}")]
    Parse(#[from] serde_yaml::Error),
    /// The manifest would be refused by the API server or reported by the operator in the Stalled condition.
    #[error("this manifest would be refused: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SpecProblem>),
    /// Building an object failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Building a TicketingService's object failed.
    #[error(transparent)]
    BuildTicketing(#[from] crate::ticketingservice::build::BuildError),
    /// Writing YAML failed.
    #[error("cannot write YAML: {0}")]
    Write(#[source] serde_yaml::Error),
}

/// Renders the objects for the ClusterFetch in `manifest` as a YAML stream: the CronJob, the run-now Job
/// when the annotation is set, and the notifier Job one failed run would get when spec.notify is set.
pub fn render(manifest: &str, config: &BuildConfig) -> Result<String, RenderError> {
    let value: serde_json::Value = serde_yaml::from_str(manifest)?;
    let mut cf: ClusterFetch = validate_manifest(&value).map_err(RenderError::Invalid)?;
    cf.metadata.namespace.get_or_insert_with(|| "default".into());
    cf.metadata.uid.get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());

    let mut out = String::new();
    let mut cronjob = build_cronjob(&cf, config)?;
    push(&mut out, "# The CronJob that runs every scheduled fetch.", &cronjob)?;
    if let Some(value) = cf.annotations().get(labels::RUN_NOW) {
        cronjob.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
        let job = build_run_now_job(&cronjob, value)?;
        push(&mut out, "# The Job the run-now annotation starts (once per annotation value).", &job)?;
    }
    let example = RunRecord {
        job_name: format!("{}-29000000", cf.name_any()),
        trigger: RunTrigger::Scheduled,
        start_time: Some(Time(Timestamp::UNIX_EPOCH)),
        completion_time: Some(Time(Timestamp::UNIX_EPOCH)),
        outcome: RunOutcome::Failed,
        items: None,
        bytes: None,
        duration_seconds: None,
        failure_class: Some(FailureClass::Source),
        message: Some("example failure".into()),
        notification: NotificationState::Pending,
    };
    if let Some(rule) = build_prometheus_rule(&cf, &config.rule_labels) {
        push(&mut out, "# The PrometheusRule of its alerts (when the prometheus-operator is installed).", &rule)?;
    }
    if let Some(job) = build_notifier_job(&cf, &example, 1, config)? {
        push(&mut out, "# The notifier Job one failed run gets (shown for an example failed run).", &job)?;
    }
    Ok(out)
}

/// Renders the children of the TicketingService in `manifest` as a YAML stream, as the operator emits them
/// once every database serves and every migration has succeeded, in a cluster where discovery found
/// `discovered`.
pub fn render_ticketing_service(
    manifest: &str,
    discovered: &Discovered,
    config: &TicketingBuildConfig,
) -> Result<String, RenderError> {
    let value: serde_json::Value = serde_yaml::from_str(manifest)?;
    let mut ts = validate_ticketing_service_manifest(&value).map_err(RenderError::Invalid)?;
    ts.metadata.namespace.get_or_insert_with(|| "default".into());
    ts.metadata.uid.get_or_insert_with(|| "00000000-0000-0000-0000-000000000000".into());
    validate_ticketing_service(&ts, discovered).map_err(RenderError::Invalid)?;
    let mut out = String::new();
    for child in build_children(&ts, discovered, &Plan::settled(&ts, config), config)? {
        let comment = format!(
            "# {} {}",
            child["kind"].as_str().unwrap_or_default(),
            child["metadata"]["name"].as_str().unwrap_or_default()
        );
        push(&mut out, &comment, &child)?;
    }
    Ok(out)
}

fn push(out: &mut String, comment: &str, object: &impl serde::Serialize) -> Result<(), RenderError> {
    out.push_str("---\n");
    out.push_str(comment);
    out.push('\n');
    out.push_str(&serde_yaml::to_string(object).map_err(RenderError::Write)?);
    Ok(())
}
