//! How a controller stops: kube-runtime's graceful shutdown (no new reconciles, those in flight finish),
//! bounded. Owns the bound and when it applies; knows nothing of any one controller.
//!
//! kube-runtime's runner waits for the controller's cache to be filled before it runs anything, and it keeps
//! waiting after a graceful shutdown too: a controller whose first list never succeeded (its CRD not
//! installed, its list forbidden) would never stop. Nothing can be in flight then, so [`forced_stop`]
//! resolves at once; otherwise it gives the reconciles in flight [`SHUTDOWN_GRACE`], so that one stuck on a
//! request the API server never answers cannot hold the process past its pod's termination grace period.

use std::{future::Future, time::Duration};

use futures::FutureExt;
use kube::runtime::reflector::Store;
use kube::Resource;

/// How long reconciles in flight may take to finish once shutdown was asked for (a pod's default
/// termination grace period is 30 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves when `controller`'s stream must be dropped, finished or not: at once after `shutdown` while
/// `cache` was never filled, else [`SHUTDOWN_GRACE`] after it. Pass it to `take_until` on the stream
/// `Controller::run` returns, beside `graceful_shutdown_on(shutdown)`.
pub async fn forced_stop<K>(controller: &'static str, shutdown: impl Future<Output = ()>, cache: Store<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    shutdown.await;
    if cache.wait_until_ready().now_or_never().is_none() {
        tracing::info!(controller, "stopping: its cache was never filled, so nothing is in flight");
        return;
    }
    tokio::time::sleep(SHUTDOWN_GRACE).await;
    tracing::warn!(
        controller,
        grace_seconds = SHUTDOWN_GRACE.as_secs(),
        "reconciles still running after the shutdown grace: stopping without them"
    );
}

#[cfg(test)]
#[path = "stopping_tests.rs"]
mod tests;
