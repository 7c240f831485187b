//! Read: the ClusterFetch itself from the API server (the cache holds only its view), its Jobs and Pods
//! from the controller's caches, and whether discovery lists the PrometheusRule kind.
//!
//! Reads only: at most one GET per reconcile (and a discovery read now and then), the rest from the caches
//! the controller's watches fill; and the digest of a reconcile's inputs in those caches, which tells when
//! the GET and the reconcile can be left out.

use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::{
    api::{batch::v1::Job, core::v1::Pod},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    runtime::reflector::{ObjectRef, Store},
    Api, Client,
};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

use super::{
    alerts::PROMETHEUS_RULE_API_VERSION, cronjob_view::CronJobView, fetch_view::ClusterFetchView, in_line::key_of,
    owned::Children, rule_kind::Known, status::Observed,
};
use crate::error::Error;

/// A digest of what a reconcile of `view` reads besides the object itself, from the caches: the
/// resourceVersions of the ClusterFetch, of its CronJob (named after it) and of its Jobs and Pods, and
/// whether the PrometheusRule kind is served with the count of its changes (so that a reconcile that settled
/// before the kind changed, or while discovery and an apply disagreed, is never reused after). Looks at the
/// object's own children only (through their index by owner). The status derivation reads no clock (but for
/// the transition times of conditions that change), so equal digests mean a reconcile would decide the same.
pub fn inputs_digest(
    view: &ClusterFetchView,
    cronjobs: &Store<CronJobView>,
    jobs: &Children<Job>,
    pods: &Children<Pod>,
    rule_kind: Known,
) -> u64 {
    fn hash(value: impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }
    let key = key_of(view);
    let cronjob = cronjobs.get(&ObjectRef::new(&key.name).within(key.namespace.as_deref().unwrap_or_default()));
    let versions = |meta: &ObjectMeta| hash((&meta.name, &meta.resource_version));
    let children: Vec<u64> = jobs
        .of(&key)
        .iter()
        .map(|j| versions(&j.metadata))
        .chain(pods.of(&key).iter().map(|p| versions(&p.metadata)))
        .collect();
    let cronjob_version = cronjob.as_ref().map(|c| (&c.metadata.uid, &c.metadata.resource_version));
    hash((&view.metadata.uid, &view.metadata.resource_version, cronjob_version, children, rule_kind))
}

/// Whether API discovery lists the PrometheusRule kind: `Some(false)` when its group/version is not
/// served, `None` when discovery gave no clear answer.
pub async fn prometheus_rules_served(client: &Client) -> Option<bool> {
    match client.list_api_group_resources(PROMETHEUS_RULE_API_VERSION).await {
        Ok(list) => Some(list.resources.iter().any(|r| r.name == "prometheusrules")),
        Err(kube::Error::Api(status)) if status.code == 404 => Some(false),
        Err(error) => {
            tracing::debug!(%error, "discovery of the PrometheusRule kind gave no answer");
            None
        }
    }
}

/// The whole ClusterFetch of a cached view, as the API server holds it now; `None` once it is gone.
pub async fn fetch(client: &Client, view: &ClusterFetchView) -> Result<Option<ClusterFetch>, Error> {
    let namespace = view.metadata.namespace.as_deref().unwrap_or_default();
    let api = Api::<ClusterFetch>::namespaced(client.clone(), namespace);
    Ok(api.get_opt(view.metadata.name.as_deref().unwrap_or_default()).await?)
}

/// The runs, notifiers and run pods of `cf`, from the caches.
pub fn observe(cf: &ClusterFetch, jobs: &Children<Job>, pods: &Children<Pod>) -> Observed {
    let key = key_of(cf);
    let role_of =
        |meta: &ObjectMeta| meta.labels.as_ref().and_then(|l| l.get(labels::ROLE)).cloned().unwrap_or_default();
    let mut observed = Observed::default();
    for job in jobs.of(&key) {
        match role_of(&job.metadata).as_str() {
            labels::ROLE_NOTIFIER => observed.notifiers.push((*job).clone()),
            _ => observed.runs.push((*job).clone()),
        }
    }
    observed.pods =
        pods.of(&key).into_iter().filter(|p| role_of(&p.metadata) == labels::ROLE_RUN).map(|p| (*p).clone()).collect();
    observed
}
