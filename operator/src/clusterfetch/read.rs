//! Read: the ClusterFetch itself from the API server (the cache holds only its view), and its Jobs and Pods
//! from the controller's caches.
//!
//! Reads only: at most one GET per reconcile, the rest from the caches the controller's watches fill; and the
//! digest of a reconcile's inputs in those caches, which tells when the GET and the reconcile can be left out.

use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::{
    api::{batch::v1::Job, core::v1::Pod},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    runtime::reflector::{ObjectRef, Store},
    Api, Client, ResourceExt,
};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

use super::{cronjob_view::CronJobView, fetch_view::ClusterFetchView, status::Observed};
use crate::error::Error;

/// A digest of what a reconcile of `view` reads besides the object itself, from the caches: the
/// resourceVersions of the ClusterFetch, of its CronJob (named after it) and of its Jobs and Pods, and
/// whether the PrometheusRule kind is served. The status derivation reads no clock (but for the transition
/// times of conditions that change), so equal digests mean a reconcile would decide the same.
pub fn inputs_digest(
    view: &ClusterFetchView,
    cronjobs: &Store<CronJobView>,
    jobs: &Store<Job>,
    pods: &Store<Pod>,
    rule_kind: bool,
) -> u64 {
    fn hash(value: impl Hash) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }
    let namespace = view.metadata.namespace.as_deref();
    let name = view.metadata.name.as_deref().unwrap_or_default();
    let cronjob = cronjobs.get(&ObjectRef::new(name).within(namespace.unwrap_or_default()));
    let own = |meta: &ObjectMeta| {
        meta.namespace.as_deref() == namespace
            && meta.labels.as_ref().and_then(|l| l.get(labels::CLUSTER_FETCH)).map(String::as_str) == Some(name)
    };
    // the caches list in no fixed order: the children's hashes are summed
    let children = jobs
        .state()
        .iter()
        .filter(|j| own(&j.metadata))
        .map(|j| hash((&j.metadata.name, &j.metadata.resource_version)))
        .chain(
            pods.state()
                .iter()
                .filter(|p| own(&p.metadata))
                .map(|p| hash((&p.metadata.name, &p.metadata.resource_version))),
        )
        .fold(0u64, u64::wrapping_add);
    let cronjob_version = cronjob.as_ref().map(|c| (&c.metadata.uid, &c.metadata.resource_version));
    hash((&view.metadata.uid, &view.metadata.resource_version, cronjob_version, children, rule_kind))
}

/// The whole ClusterFetch of a cached view, as the API server holds it now; `None` once it is gone.
pub async fn fetch(client: &Client, view: &ClusterFetchView) -> Result<Option<ClusterFetch>, Error> {
    let namespace = view.metadata.namespace.as_deref().unwrap_or_default();
    let api = Api::<ClusterFetch>::namespaced(client.clone(), namespace);
    Ok(api.get_opt(view.metadata.name.as_deref().unwrap_or_default()).await?)
}

/// The runs, notifiers and run pods of `cf`, from the caches.
pub fn observe(cf: &ClusterFetch, jobs: &Store<Job>, pods: &Store<Pod>) -> Observed {
    let namespace = cf.namespace();
    let name = cf.name_any();
    let belongs = |ns: Option<String>, l: &std::collections::BTreeMap<String, String>| {
        ns == namespace && l.get(labels::CLUSTER_FETCH) == Some(&name)
    };
    let role_of = |l: &std::collections::BTreeMap<String, String>| l.get(labels::ROLE).cloned().unwrap_or_default();
    let mut observed = Observed::default();
    for job in jobs.state() {
        if !belongs(job.namespace(), job.labels()) {
            continue;
        }
        match role_of(job.labels()).as_str() {
            labels::ROLE_NOTIFIER => observed.notifiers.push((*job).clone()),
            _ => observed.runs.push((*job).clone()),
        }
    }
    observed.pods = pods
        .state()
        .into_iter()
        .filter(|p| belongs(p.namespace(), p.labels()) && role_of(p.labels()) == labels::ROLE_RUN)
        .map(|p| (*p).clone())
        .collect();
    observed
}
