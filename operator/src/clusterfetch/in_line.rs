//! In line: decides which writes a reconcile can leave out because the cluster already holds what it would
//! write — a CronJob whose applied-hash annotation and schedule-level fields match, a PrometheusRule whose
//! hash the `AlertsReady` condition records, a status equal to the derived one — and slims CronJobs
//! before they enter the cache.
//!
//! Pure: values in, decisions out. No client, no clock, no I/O. [`Written`] and [`Settled`] are the only
//! state: what this process wrote last, so a cache that has not yet seen the operator's own write does not
//! cause a second one; and what the inputs of each ClusterFetch were when a reconcile last found it in line,
//! so a reconcile with the same inputs (the controller's periodic pass) does not even read the object.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use k8s_openapi::api::batch::v1::CronJob;
use kube::{runtime::reflector::ObjectRef, Resource, ResourceExt};

use super::cronjob_view::CronJobView;
pub use crate::apply::{applied_hash, APPLIED_HASH};
use microfleet_crds::clusterfetch::ClusterFetch;

/// How long a write of this process is trusted over a cache that has not caught up with it.
const CACHE_CATCH_UP: Duration = Duration::from_secs(60);

/// Puts the hash of `cronjob` (as built, without the annotation) into its annotations.
pub fn stamp(cronjob: &mut CronJob) {
    let hash = applied_hash(cronjob);
    cronjob.annotations_mut().insert(APPLIED_HASH.into(), hash);
}

/// The hash a stamped CronJob carries.
pub fn hash_of(cronjob: &CronJob) -> Option<&str> {
    cronjob.annotations().get(APPLIED_HASH).map(String::as_str)
}

/// True when the observed CronJob carries the desired hash and its schedule-level fields (the ones a person
/// may edit by hand, e.g. `suspend`) still hold what the operator set. Fields the operator leaves unset are
/// the API server's defaults and not compared.
pub fn cronjob_in_line(desired: &CronJob, observed: &CronJobView) -> bool {
    if hash_of(desired).is_none() || hash_of(desired) != observed.applied_hash.as_deref() {
        return false;
    }
    let Some(want) = &desired.spec else { return true };
    let have = &observed.spec;
    fn same<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
        want.is_none() || want == have
    }
    want.schedule == have.schedule
        && same(&want.time_zone, &have.time_zone)
        && same(&want.suspend, &have.suspend)
        && same(&want.concurrency_policy, &have.concurrency_policy)
        && same(&want.starting_deadline_seconds, &have.starting_deadline_seconds)
        && same(&want.successful_jobs_history_limit, &have.successful_jobs_history_limit)
        && same(&want.failed_jobs_history_limit, &have.failed_jobs_history_limit)
}

/// The `AlertsReady` message of an applied rule; it records the rule's hash, so a later reconcile (of this
/// replica or of a new leader) knows the rule is in place without reading it.
pub fn rule_applied_message(rule_name: &str, hash: &str) -> String {
    format!("PrometheusRule {rule_name} is in place (rule {hash})")
}

/// True when `cf`'s status says the rule with `hash` is applied.
pub fn rule_in_line(cf: &ClusterFetch, hash: &str) -> bool {
    let suffix = format!("(rule {hash})");
    cf.status.iter().flat_map(|s| &s.conditions).any(|c| {
        c.type_ == "AlertsReady" && c.status == "True" && c.reason == "RuleApplied" && c.message.ends_with(&suffix)
    })
}

/// Drops what the operator never reads from a CronJob's metadata before it is cached: its annotations (the
/// applied hash moves to [`CronJobView::applied_hash`]) and owner references (its events are routed by its
/// name, the ClusterFetch's). Managed fields, labels, job template and status are never parsed
/// ([`CronJobView`]).
pub fn slim_cronjob(cronjob: &mut CronJobView) {
    let mut annotations = cronjob.metadata.annotations.take().unwrap_or_default();
    cronjob.applied_hash = annotations.remove(APPLIED_HASH);
    cronjob.metadata.owner_references = None;
    cronjob.metadata.managed_fields = None;
    cronjob.metadata.labels = None;
}

/// The key of a ClusterFetch (whole, or its cached view) in the controller's maps: namespace and name.
pub fn key_of(cf: &impl Resource) -> ObjectRef<ClusterFetch> {
    let mut key = ObjectRef::new(cf.meta().name.as_deref().unwrap_or_default());
    key.namespace = cf.meta().namespace.clone();
    key
}

/// A resourceVersion as a number (etcd's revision); `None` when it is absent or not a number.
fn revision(resource_version: Option<&str>) -> Option<u64> {
    resource_version?.parse().ok()
}

/// What this process wrote last for one ClusterFetch, until the caches show it.
#[derive(Debug, Clone, Default, PartialEq)]
struct Write {
    /// The resourceVersion the status write returned.
    status: Option<u64>,
    /// The CronJob applied: its hash, uid, resourceVersion and when.
    cronjob: Option<(String, String, u64, Instant)>,
}

/// The operator's own recent writes, by ClusterFetch; an entry goes once the caches hold the writes.
#[derive(Debug, Default)]
pub struct Written {
    writes: Mutex<HashMap<ObjectRef<ClusterFetch>, Write>>,
}

impl Written {
    fn with<T>(&self, key: &ObjectRef<ClusterFetch>, f: impl FnOnce(&mut Write) -> T) -> T {
        let mut writes = self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let write = writes.entry(key.clone()).or_default();
        let out = f(write);
        if *write == Write::default() {
            writes.remove(key);
        }
        out
    }

    /// True while the cached `cf` is older than this process's last status write of it: a reconcile would
    /// work from a status that is already replaced (the write's own watch event triggers the next one).
    pub fn status_behind(&self, cf: &impl Resource) -> bool {
        let cached = revision(cf.meta().resource_version.as_deref());
        self.with(&key_of(cf), |write| match (write.status, cached) {
            (Some(written), Some(cached)) if cached < written => true,
            _ => {
                write.status = None;
                false
            }
        })
    }

    /// Records a status write that returned `resource_version`.
    pub fn record_status(&self, cf: &impl Resource, resource_version: Option<&str>) {
        let written = revision(resource_version);
        self.with(&key_of(cf), |write| write.status = written);
    }

    /// The uid of the CronJob this process applied with `hash` less than a minute ago, while the cache
    /// (`cached`: missing, or older) has not caught up with it; `None` when the cache decides.
    pub fn cronjob_pending(&self, cf: &impl Resource, hash: &str, cached: Option<&CronJobView>) -> Option<String> {
        let cached = cached.map(|c| revision(c.metadata.resource_version.as_deref()));
        self.with(&key_of(cf), |write| {
            let (applied, uid, written, at) = write.cronjob.as_ref()?;
            let caught_up = matches!(cached, Some(Some(cached)) if cached >= *written);
            if caught_up || at.elapsed() > CACHE_CATCH_UP {
                write.cronjob = None;
                return None;
            }
            (applied == hash).then(|| uid.clone())
        })
    }

    /// Records a CronJob apply (`applied` as the API returned it).
    pub fn record_cronjob(&self, cf: &impl Resource, hash: &str, applied: &impl ResourceExt) {
        let (Some(uid), Some(written)) = (applied.uid(), revision(applied.resource_version().as_deref())) else {
            return;
        };
        self.with(&key_of(cf), |write| {
            write.cronjob = Some((hash.to_string(), uid, written, Instant::now()));
        });
    }

    /// Forgets a deleted ClusterFetch.
    pub fn forget(&self, key: &ObjectRef<ClusterFetch>) {
        self.writes.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

/// The digest of a reconcile's inputs (see `read::inputs_digest`) when a reconcile of a ClusterFetch last
/// succeeded, by ClusterFetch (a 64-bit hash of namespace and name: 16 bytes an entry).
#[derive(Debug, Default)]
pub struct Settled {
    inputs: Mutex<HashMap<u64, u64>>,
}

fn short_key(key: &ObjectRef<ClusterFetch>) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(&key.namespace, &key.name), &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

impl Settled {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, u64>> {
        self.inputs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True when the last good reconcile of `cf` saw the same inputs: this one would decide the same.
    pub fn unchanged(&self, cf: &ObjectRef<ClusterFetch>, inputs: u64) -> bool {
        self.map().get(&short_key(cf)) == Some(&inputs)
    }

    /// Records the inputs of a good reconcile of `cf`.
    pub fn record(&self, cf: &ObjectRef<ClusterFetch>, inputs: u64) {
        self.map().insert(short_key(cf), inputs);
    }

    /// Forgets `cf` (deleted, or to be looked at again whatever its inputs).
    pub fn forget(&self, cf: &ObjectRef<ClusterFetch>) {
        self.map().remove(&short_key(cf));
    }
}

#[cfg(test)]
#[path = "in_line_tests.rs"]
mod tests;
