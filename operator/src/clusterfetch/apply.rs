//! Apply: the writes of a reconcile — server-side apply of the CronJob, creation of run-now and notifier
//! Jobs, the status patch and Events. One field manager for everything.
//!
//! Thin I/O only: what to write is decided by the pure `build`, `run_now` and `status` modules.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::{
    api::{Patch, PatchParams, PostParams},
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
