//! Read: the ClusterFetch itself from the API server (the cache holds only its view), and its Jobs and Pods
//! from the controller's caches.
//!
//! Reads only: one GET per reconcile, the rest from the caches the controller's watches fill.

use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{runtime::reflector::Store, Api, Client, ResourceExt};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

use super::{fetch_view::ClusterFetchView, status::Observed};
use crate::error::Error;

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
