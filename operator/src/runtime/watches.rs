//! The health of the operator's watches: a watch that cannot list or watch its resource (RBAC, a missing API,
//! an unreachable server) is logged at warn with the resource named, counted in
//! `microfleet_watch_errors_total`, shown by `microfleet_watch_healthy` and `/readyz`, and its errors are kept
//! out of the controller's trigger stream, whose backoff would otherwise delay every object's reconcile.
//!
//! Owns the per-watch state only; the watchers themselves (and their own retry backoff) belong to the
//! controllers.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use futures::{future, Stream, StreamExt};
use kube::runtime::watcher;

use super::metrics::Metrics;

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
        events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send {
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
}
