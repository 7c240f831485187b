//! Apply: the writes of a reconcile — server-side apply of the CronJob and the PrometheusRule, creation of
//! run-now and notifier Jobs, the status patch and Events. One field manager for everything.
//!
//! Thin I/O only: what to write is decided by the pure `build`, `run_now` and `status` modules. Every write
//! goes through [`Writer`], which checks the leader fence immediately before it: no write leaves a replica
//! that is not surely the leader.

use k8s_openapi::api::batch::v1::{CronJob, Job};
use kube::{
    api::{ApiResource, DynamicObject, Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder},
    Api, Client, Resource, ResourceExt,
};
use microfleet_crds::clusterfetch::{ClusterFetch, ClusterFetchStatus};

use super::alerts::PROMETHEUS_RULE_API_VERSION;
pub use crate::apply::Created;
use crate::{
    apply::{create_job_once, FIELD_MANAGER},
    error::Error,
    runtime::leader::Fence,
};

/// What became of the PrometheusRule apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleApplied {
    /// The rule is in place.
    Applied,
    /// The PrometheusRule kind is not installed (no prometheus-operator CRDs).
    KindMissing,
}

/// Makes the controller's writes, each behind the leader fence.
pub struct Writer {
    client: Client,
    recorder: Recorder,
    fence: Fence,
}

impl Writer {
    /// A writer through `client` (Events through `recorder`), open while `fence` is.
    pub fn new(client: Client, recorder: Recorder, fence: Fence) -> Writer {
        Writer { client, recorder, fence }
    }

    /// Server-side applies `cronjob` (forcing ownership of its fields) and returns it as stored.
    pub async fn apply_cronjob(&self, cronjob: &CronJob) -> Result<CronJob, Error> {
        let api: Api<CronJob> = Api::namespaced(self.client.clone(), &cronjob.namespace().unwrap_or_default());
        self.fence.check()?;
        Ok(api.patch(&cronjob.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(cronjob)).await?)
    }

    /// Creates `job` unless a Job of that name exists; the stable names make this the once-only guard.
    pub async fn create_job(&self, job: &Job) -> Result<Created, Error> {
        create_job_once(&self.client, &self.fence, job).await
    }

    fn prometheus_rules(&self, namespace: &str) -> Api<DynamicObject> {
        let resource = ApiResource {
            group: "monitoring.coreos.com".into(),
            version: "v1".into(),
            api_version: PROMETHEUS_RULE_API_VERSION.into(),
            kind: "PrometheusRule".into(),
            plural: "prometheusrules".into(),
        };
        Api::namespaced_with(self.client.clone(), namespace, &resource)
    }

    /// Server-side applies a PrometheusRule (built as JSON).
    pub async fn apply_prometheus_rule(&self, rule: &serde_json::Value) -> Result<RuleApplied, Error> {
        let namespace = rule["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = rule["metadata"]["name"].as_str().unwrap_or_default();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let api = self.prometheus_rules(namespace);
        self.fence.check()?;
        match api.patch(name, &params, &Patch::Apply(rule)).await {
            Ok(_) => Ok(RuleApplied::Applied),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(RuleApplied::KindMissing),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes a PrometheusRule the operator made earlier (gone already is fine).
    pub async fn delete_prometheus_rule(&self, namespace: &str, name: &str) -> Result<(), Error> {
        let api = self.prometheus_rules(namespace);
        self.fence.check()?;
        match api.delete(name, &Default::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Server-side applies the status subresource of `cf`; returns the resourceVersion it made.
    pub async fn apply_status(&self, cf: &ClusterFetch, status: &ClusterFetchStatus) -> Result<Option<String>, Error> {
        let api: Api<ClusterFetch> = Api::namespaced(self.client.clone(), &cf.namespace().unwrap_or_default());
        let body = serde_json::json!({
            "apiVersion": ClusterFetch::api_version(&()),
            "kind": ClusterFetch::kind(&()),
            "status": status,
        });
        self.fence.check()?;
        let stored =
            api.patch_status(&cf.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await?;
        Ok(stored.metadata.resource_version)
    }

    /// Publishes an Event about `cf`. A failure (the fence included) is logged, not returned: Events are best
    /// effort.
    pub async fn publish(&self, cf: &ClusterFetch, type_: EventType, reason: &str, action: &str, note: String) {
        let event = Event { type_, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        if let Err(error) = self.fence.check() {
            tracing::warn!(%error, reason, "Event not published");
            return;
        }
        if let Err(error) = self.recorder.publish(&event, &cf.object_ref(&())).await {
            tracing::warn!(%error, reason, "could not publish an Event");
        }
    }
}
