//! Read: collects a ClusterFetch's Jobs and Pods from the controller's caches.
//!
//! No API calls: the caches are filled by the watches the controller runs.

use k8s_openapi::api::{batch::v1::Job, core::v1::Pod};
use kube::{runtime::reflector::Store, ResourceExt};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

use super::status::Observed;

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
