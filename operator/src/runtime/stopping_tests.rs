//! kube-runtime's real `Controller`, fed plain values: its graceful shutdown alone never ends while the cache
//! was never filled; with [`forced_stop`] it ends at once, and a reconcile stuck in flight is dropped after
//! the grace.

use std::sync::Arc;

use futures::{stream, FutureExt, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{
    controller::{Action, Controller},
    reflector, watcher,
};
use tokio::sync::watch;

use super::*;

type Trigger = Result<ConfigMap, watcher::Error>;

fn config_map(name: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.namespace = Some("default".into());
    cm
}

/// A shutdown the test fires.
fn shutdown() -> (watch::Sender<bool>, impl Future<Output = ()> + Clone + Send + Sync + 'static) {
    let (fire, fired) = watch::channel(false);
    let requested = async move {
        let mut fired = fired;
        let _ = fired.wait_for(|fired| *fired).await;
    };
    (fire, requested.shared())
}

/// A reconcile that never finishes (a request the API server never answers).
async fn stuck(_: Arc<ConfigMap>, _: Arc<()>) -> Result<Action, std::io::Error> {
    std::future::pending().await
}

fn retry(_: Arc<ConfigMap>, _: &std::io::Error, _: Arc<()>) -> Action {
    Action::await_change()
}

#[tokio::test(start_paused = true)]
async fn a_controller_whose_cache_was_never_filled_stops_at_once_with_the_forced_stop_and_never_without() {
    // without: kube-runtime's graceful shutdown alone waits for the cache forever
    let (_store_writer, store) = {
        let (store, writer) = reflector::store::<ConfigMap>();
        (writer, store)
    };
    let (fire, requested) = shutdown();
    let alone = Controller::for_stream(stream::pending::<Trigger>(), store)
        .graceful_shutdown_on(requested)
        .run(stuck, retry, Arc::new(()))
        .for_each(|_| async {});
    fire.send(true).unwrap();
    assert!(
        tokio::time::timeout(SHUTDOWN_GRACE * 6, alone).await.is_err(),
        "kube-runtime's graceful shutdown now ends with an unfilled cache: forced_stop's first case may go"
    );

    // with: at once, no grace waited
    let (_store_writer, store) = {
        let (store, writer) = reflector::store::<ConfigMap>();
        (writer, store)
    };
    let (fire, requested) = shutdown();
    let started = tokio::time::Instant::now();
    let with = Controller::for_stream(stream::pending::<Trigger>(), store.clone())
        .graceful_shutdown_on(requested.clone())
        .run(stuck, retry, Arc::new(()))
        .take_until(forced_stop("test", requested, store))
        .for_each(|_| async {});
    fire.send(true).unwrap();
    tokio::time::timeout(SHUTDOWN_GRACE * 6, with).await.expect("stops");
    assert!(started.elapsed() < SHUTDOWN_GRACE, "at once: {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_stuck_in_flight_is_dropped_after_the_grace() {
    let (store, mut writer) = reflector::store::<ConfigMap>();
    writer.apply_watcher_event(&watcher::Event::Init);
    writer.apply_watcher_event(&watcher::Event::InitApply(config_map("stuck")));
    writer.apply_watcher_event(&watcher::Event::InitDone);
    assert!(store.wait_until_ready().now_or_never().is_some(), "the cache is filled");
    let (fire, requested) = shutdown();
    let (reconciling, mut started) = watch::channel(false);
    let reconciling = Arc::new(reconciling);
    let reconcile = move |_: Arc<ConfigMap>, _: Arc<()>| {
        let _ = reconciling.send(true);
        stuck(Arc::new(config_map("stuck")), Arc::new(()))
    };
    let triggers = stream::iter([Ok(config_map("stuck"))]).chain(stream::pending::<Trigger>());
    let controller = tokio::spawn(
        Controller::for_stream(triggers, store.clone())
            .graceful_shutdown_on(requested.clone())
            .run(reconcile, retry, Arc::new(()))
            .take_until(forced_stop("test", requested, store))
            .for_each(|_| async {}),
    );
    started.wait_for(|started| *started).await.unwrap();
    let asked = tokio::time::Instant::now();
    fire.send(true).unwrap();
    tokio::time::timeout(SHUTDOWN_GRACE * 6, controller).await.expect("stops").unwrap();
    let waited = asked.elapsed();
    assert!(waited >= SHUTDOWN_GRACE && waited < SHUTDOWN_GRACE * 2, "after the grace: {waited:?}");
}
