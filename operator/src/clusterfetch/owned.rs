//! Owned: an index of the cached Jobs and Pods by the ClusterFetch they are labelled with, kept by their
//! watches alongside the reflector stores, so that a reconcile looks at its own children only (not at every
//! cached Job and Pod: that was O(N) per reconcile, O(N²) per pass over N ClusterFetches).
//!
//! Holds names only; the objects stay in the reflector stores. Pure bookkeeping of watch events: no client,
//! no I/O.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use kube::{
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
    Resource, ResourceExt,
};
use microfleet_crds::{clusterfetch::ClusterFetch, labels};

/// The owner and name of a child: (namespace, ClusterFetch name) and its own name.
type Child = ((String, String), String);

#[derive(Debug, Default)]
struct Index {
    /// Children's names by owner (namespace, ClusterFetch name).
    by_owner: HashMap<(String, String), BTreeSet<String>>,
    /// A relist being read (`Init` … `InitDone`), replacing the index once complete.
    relist: Option<HashMap<(String, String), BTreeSet<String>>>,
}

fn child_of<K: Resource>(obj: &K) -> Option<Child> {
    let owner = obj.labels().get(labels::CLUSTER_FETCH)?;
    let namespace = obj.meta().namespace.clone()?;
    Some(((namespace, owner.clone()), obj.meta().name.clone()?))
}

fn insert(map: &mut HashMap<(String, String), BTreeSet<String>>, (owner, name): Child) {
    map.entry(owner).or_default().insert(name);
}

/// The names of the cached objects of one kind, by the ClusterFetch named in their label.
#[derive(Debug, Default)]
pub struct Owned {
    index: Mutex<Index>,
}

impl Owned {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Follows one watch event, as the reflector store does. The owner label of a Job or Pod is set when it
    /// is made and never changed by the operator, so an object stays under the owner it was first seen with.
    pub fn apply<K: Resource>(&self, event: &watcher::Event<K>) {
        let mut index = self.index();
        match event {
            watcher::Event::Apply(obj) => {
                if let Some(child) = child_of(obj) {
                    insert(&mut index.by_owner, child);
                }
            }
            watcher::Event::Delete(obj) => {
                if let Some((owner, name)) = child_of(obj) {
                    if let Some(names) = index.by_owner.get_mut(&owner) {
                        names.remove(&name);
                        if names.is_empty() {
                            index.by_owner.remove(&owner);
                        }
                    }
                }
            }
            watcher::Event::Init => index.relist = Some(HashMap::new()),
            watcher::Event::InitApply(obj) => {
                if let (Some(relist), Some(child)) = (index.relist.as_mut(), child_of(obj)) {
                    insert(relist, child);
                }
            }
            watcher::Event::InitDone => {
                if let Some(relist) = index.relist.take() {
                    index.by_owner = relist;
                }
            }
        }
    }

    /// The references of the objects labelled with `cf`, by name.
    pub fn of<K: Resource<DynamicType = ()>>(&self, cf: &ObjectRef<ClusterFetch>) -> Vec<ObjectRef<K>> {
        let namespace = cf.namespace.clone().unwrap_or_default();
        let owner = (namespace, cf.name.clone());
        self.index()
            .by_owner
            .get(&owner)
            .map(|names| names.iter().map(|name| ObjectRef::new(name).within(&owner.0)).collect())
            .unwrap_or_default()
    }
}

/// A cache of one kind of children: the reflector store and its index by owner.
#[derive(Debug, Clone)]
pub struct Children<K: 'static + Resource<DynamicType = ()> + Clone> {
    store: Store<K>,
    owned: Arc<Owned>,
}

impl<K: 'static + Resource<DynamicType = ()> + Clone> Children<K> {
    /// The children in `store`, found through `owned` (which the same watch keeps).
    pub fn new(store: Store<K>, owned: Arc<Owned>) -> Children<K> {
        Children { store, owned }
    }

    /// The cached objects labelled with `cf`, in name order.
    pub fn of(&self, cf: &ObjectRef<ClusterFetch>) -> Vec<Arc<K>> {
        self.owned.of::<K>(cf).iter().filter_map(|child| self.store.get(child)).collect()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::batch::v1::Job;

    use super::*;

    fn job(namespace: &str, owner: &str, name: &str) -> Job {
        let mut job = Job::default();
        job.metadata.namespace = Some(namespace.into());
        job.metadata.name = Some(name.into());
        job.metadata.labels = Some([(labels::CLUSTER_FETCH.to_string(), owner.to_string())].into());
        job
    }

    fn names(owned: &Owned, namespace: &str, cf: &str) -> Vec<String> {
        let mut key = ObjectRef::<ClusterFetch>::new(cf);
        key.namespace = Some(namespace.into());
        owned.of::<Job>(&key).into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn children_are_found_by_their_owner_and_namespace_only() {
        let owned = Owned::default();
        owned.apply(&watcher::Event::Apply(job("a", "users", "users-1")));
        owned.apply(&watcher::Event::Apply(job("a", "users", "users-2")));
        owned.apply(&watcher::Event::Apply(job("a", "orders", "orders-1")));
        owned.apply(&watcher::Event::Apply(job("b", "users", "users-1")));
        owned.apply(&watcher::Event::Apply(Job::default()));
        assert_eq!(names(&owned, "a", "users"), ["users-1", "users-2"]);
        assert_eq!(names(&owned, "b", "users"), ["users-1"]);
        assert!(names(&owned, "c", "users").is_empty());
        owned.apply(&watcher::Event::Delete(job("a", "users", "users-1")));
        assert_eq!(names(&owned, "a", "users"), ["users-2"]);
    }

    #[test]
    fn a_relist_replaces_the_index_once_complete() {
        let owned = Owned::default();
        owned.apply(&watcher::Event::Apply(job("a", "users", "gone-while-disconnected")));
        owned.apply(&watcher::Event::<Job>::Init);
        owned.apply(&watcher::Event::InitApply(job("a", "users", "users-3")));
        assert_eq!(names(&owned, "a", "users"), ["gone-while-disconnected"], "until the relist is complete");
        owned.apply(&watcher::Event::<Job>::InitDone);
        assert_eq!(names(&owned, "a", "users"), ["users-3"]);
    }
}
