//! Apply: the writes of a reconcile — server-side apply of the CronJob, creation of run-now and notifier
//! Jobs, the status patch and Events. One field manager for everything.
//!
//! Thin I/O only: what to write is decided by the pure `build`, `run_now` and `status` modules.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::{
    api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams},
    runtime::events::{Event, EventType, Recorder},
    Api, Client, Resource, ResourceExt,
};
use microfleet_crds::clusterfetch::{ClusterFetch, ClusterFetchStatus};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "microfleet-operator";

/// Server-side applies `cronjob` (forcing ownership of its fields) and returns it as stored.
pub async fn apply_cronjob(client: &Client, cronjob: &CronJob) -> Result<CronJob, kube::Error> {
    let api: Api<CronJob> = Api::namespaced(client.clone(), &cronjob.namespace().unwrap_or_default());
    api.patch(&cronjob.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(cronjob)).await
}

/// Whether a create made the object or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was created now.
    New,
    /// An object of that name existed already (an earlier reconcile created it).
    Existing,
}

/// Creates `job` unless a Job of that name exists; the stable names make this the once-only guard.
pub async fn create_job(client: &Client, job: &Job) -> Result<Created, kube::Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), &job.namespace().unwrap_or_default());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    match api.create(&params, job).await {
        Ok(_) => Ok(Created::New),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Created::Existing),
        Err(e) => Err(e),
    }
}

/// What became of the PrometheusRule apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleApplied {
    /// The rule is in place.
    Applied,
    /// The PrometheusRule kind is not installed (no prometheus-operator CRDs).
    KindMissing,
}

fn prometheus_rules(client: &Client, namespace: &str) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Server-side applies a PrometheusRule (built as JSON).
pub async fn apply_prometheus_rule(client: &Client, rule: &serde_json::Value) -> Result<RuleApplied, kube::Error> {
    let namespace = rule["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = rule["metadata"]["name"].as_str().unwrap_or_default();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match prometheus_rules(client, namespace).patch(name, &params, &Patch::Apply(rule)).await {
        Ok(_) => Ok(RuleApplied::Applied),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(RuleApplied::KindMissing),
        Err(error) => Err(error),
    }
}

/// Deletes a PrometheusRule the operator made earlier (gone already is fine).
pub async fn delete_prometheus_rule(client: &Client, namespace: &str, name: &str) -> Result<(), kube::Error> {
    match prometheus_rules(client, namespace).delete(name, &Default::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// Server-side applies the status subresource of `cf`.
pub async fn apply_status(client: &Client, cf: &ClusterFetch, status: &ClusterFetchStatus) -> Result<(), kube::Error> {
    let api: Api<ClusterFetch> = Api::namespaced(client.clone(), &cf.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "apiVersion": ClusterFetch::api_version(&()),
        "kind": ClusterFetch::kind(&()),
        "status": status,
    });
    api.patch_status(&cf.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await?;
    Ok(())
}

/// Publishes an Event about `cf`. A failure is logged, not returned: Events are best effort.
pub async fn publish(
    recorder: &Recorder,
    cf: &ClusterFetch,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
    if let Err(error) = recorder.publish(&event, &cf.object_ref(&())).await {
        tracing::warn!(%error, reason, "could not publish an Event");
    }
}
