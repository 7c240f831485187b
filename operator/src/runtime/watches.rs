//! The health of the operator's watches: a watch that cannot list or watch its resource (RBAC, a missing API,
//! an unreachable server) is logged at warn with the resource named, counted in
//! `microfleet_watch_errors_total`, shown by `microfleet_watch_healthy` and `/readyz`, and its errors are kept
//! out of the controller's trigger stream, whose backoff would otherwise delay every object's reconcile.
//!
//! Also tells when a controller's watches have each listed their resource once ([`FirstLists`]): the
//! controller's part of readiness.
//!
//! Owns the per-watch state only; the watchers themselves (and their own retry backoff) belong to the
//! controllers.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use futures::{future, Stream, StreamExt};
use kube::runtime::watcher;

use super::metrics::Metrics;

/// What a watcher yields: an event, or why it could not list or watch.
type WatchItem<K> = Result<watcher::Event<K>, watcher::Error>;

/// The last error of each failing watch, by resource; shared by the controllers and the admin server.
#[derive(Clone)]
pub struct WatchHealth {
    failing: Arc<Mutex<BTreeMap<&'static str, String>>>,
    metrics: Arc<Metrics>,
}

impl WatchHealth {
    /// No watch failing yet.
    pub fn new(metrics: Arc<Metrics>) -> WatchHealth {
        WatchHealth { failing: Arc::default(), metrics }
    }

    /// The watches that fail now, each with its last error (empty when all are healthy).
    pub fn failing(&self) -> BTreeMap<&'static str, String> {
        self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn record_ok(&self, resource: &'static str) {
        let recovered = self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(resource);
        if recovered.is_some() {
            tracing::info!(resource, "watch recovered");
        }
        self.metrics.watch_healthy(resource, true);
    }

    fn record_error(&self, resource: &'static str, error: &watcher::Error) {
        let message = error.to_string();
        tracing::warn!(resource, error = %message, "watch failing: cannot list or watch; retrying with backoff");
        self.failing.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(resource, message);
        self.metrics.watch_failed(resource);
    }

    /// Passes a watcher's events on, recording its health, and drops its errors after recording them, so the
    /// controller (and its trigger backoff) never sees them. The watcher keeps retrying on its own backoff.
    pub fn observe<K: Send>(
        &self,
        resource: &'static str,
        events: impl Stream<Item = WatchItem<K>> + Send,
    ) -> impl Stream<Item = WatchItem<K>> + Send {
        let health = self.clone();
        health.metrics.watch_healthy(resource, true);
        events.filter(move |event| {
            match event {
                Ok(_) => health.record_ok(resource),
                Err(error) => health.record_error(resource, error),
            }
            future::ready(event.is_ok())
        })
    }
}

/// The watches of a controller that have not listed their resource yet, and what to call once all have.
type Pending = (BTreeSet<&'static str>, Option<Box<dyn FnOnce() + Send>>);

/// Calls `on_ready` once each of a controller's watches has listed its resource (its first `InitDone`):
/// the controller's caches and triggers then hold the whole cluster's state.
#[derive(Clone)]
pub struct FirstLists {
    pending: Arc<Mutex<Pending>>,
}

impl FirstLists {
    /// Waits for a first list of each of `resources`.
    pub fn new(resources: &[&'static str], on_ready: impl FnOnce() + Send + 'static) -> FirstLists {
        let pending: Pending = (resources.iter().copied().collect(), Some(Box::new(on_ready)));
        FirstLists { pending: Arc::new(Mutex::new(pending)) }
    }

    /// Notes the first list of `resource` (or, for a set of controllers, that one is ready).
    pub fn listed(&self, resource: &'static str) {
        let ready = {
            let mut pending = self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            pending.0.remove(resource);
            if pending.0.is_empty() {
                pending.1.take()
            } else {
                None
            }
        };
        if let Some(on_ready) = ready {
            on_ready();
        }
    }

    /// Passes a watcher's events on, noting its first complete list of `resource`.
    pub fn track<K: Send>(
        &self,
        resource: &'static str,
        events: impl Stream<Item = WatchItem<K>> + Send,
    ) -> impl Stream<Item = WatchItem<K>> + Send {
        let lists = self.clone();
        events.inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) {
                lists.listed(resource);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    #[tokio::test]
    async fn errors_are_recorded_and_dropped_and_a_later_event_recovers() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let health = WatchHealth::new(metrics.clone());
        let error = watcher::Error::NoResourceVersion;
        let events = vec![Err(error), Ok(watcher::Event::<k8s_openapi::api::core::v1::Pod>::InitDone)];
        let mut passed = Box::pin(health.observe("pods", stream::iter(events)));

        let first = passed.next().await.unwrap();
        assert!(matches!(first, Ok(watcher::Event::InitDone)), "the error must not reach the controller");
        assert!(passed.next().await.is_none());
        assert!(health.failing().is_empty(), "an event after the error means the watch recovered");
        let text = metrics.render();
        assert!(text.contains("microfleet_watch_errors_total{resource=\"pods\"} 1"), "{text}");
        assert!(text.contains("microfleet_watch_healthy{resource=\"pods\"} 1"), "{text}");
    }

    #[tokio::test]
    async fn a_watch_that_keeps_failing_is_reported_with_its_error() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let health = WatchHealth::new(metrics.clone());
        let events = vec![Err::<watcher::Event<k8s_openapi::api::core::v1::Pod>, _>(watcher::Error::NoResourceVersion)];
        assert_eq!(health.observe("pods", stream::iter(events)).count().await, 0);
        let failing = health.failing();
        assert_eq!(failing.keys().copied().collect::<Vec<_>>(), ["pods"]);
        assert!(metrics.render().contains("microfleet_watch_healthy{resource=\"pods\"} 0"));
    }

    #[tokio::test]
    async fn ready_once_every_watch_has_listed_its_resource() {
        let ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let calls = ready.clone();
        let lists = FirstLists::new(&["pods", "jobs"], move || {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let init = |events: Vec<watcher::Event<k8s_openapi::api::core::v1::Pod>>| {
            stream::iter(events.into_iter().map(Ok::<_, watcher::Error>))
        };
        let pods = lists.track("pods", init(vec![watcher::Event::Init, watcher::Event::InitDone]));
        assert_eq!(pods.count().await, 2, "every event passes");
        assert_eq!(ready.load(std::sync::atomic::Ordering::Relaxed), 0, "jobs not listed yet");
        let failed = stream::iter([Err::<watcher::Event<k8s_openapi::api::core::v1::Pod>, _>(
            watcher::Error::NoResourceVersion,
        )]);
        lists.track("jobs", failed).count().await;
        assert_eq!(ready.load(std::sync::atomic::Ordering::Relaxed), 0, "a failed list is no list");
        lists.track("jobs", init(vec![watcher::Event::InitDone, watcher::Event::InitDone])).count().await;
        assert_eq!(ready.load(std::sync::atomic::Ordering::Relaxed), 1, "ready once, when the last one listed");
    }
}
