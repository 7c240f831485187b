//! The admin server on a real 127.0.0.1 port: health, readiness and the metrics the alerts need.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher;
use microfleet_operator::runtime::{
    metrics::Metrics,
    server::{serve_on, AdminState},
    watches::WatchHealth,
};

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Arc::new(Metrics::new().unwrap());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watches = WatchHealth::new(metrics.clone());
    let state = AdminState { metrics: metrics.clone(), ready: ready.clone(), watches: watches.clone() };
    let server = tokio::spawn(serve_on(listener, state, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
    ready.store(true, Ordering::Relaxed);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    // a failing watch makes the replica unready, named in the body, until the watch recovers
    let failed = futures::stream::iter([Err::<watcher::Event<Pod>, _>(watcher::Error::NoResourceVersion)]);
    assert_eq!(watches.observe("pods", failed).count().await, 0);
    let answer = get("/readyz").await.unwrap();
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.unwrap().contains("watch of pods failing"));
    let recovered = futures::stream::iter([Ok::<_, watcher::Error>(watcher::Event::<Pod>::InitDone)]);
    assert_eq!(watches.observe("pods", recovered).count().await, 1);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    drop(metrics.reconcile_started("clusterfetch"));
    metrics.reconcile_failed("clusterfetch", "api");
    metrics.leader.set(1);
    let text = get("/metrics").await.unwrap().text().await.unwrap();
    for series in [
        "microfleet_reconciles_total{controller=\"clusterfetch\"} 1",
        "microfleet_reconcile_errors_total{controller=\"clusterfetch\",error=\"api\"} 1",
        "microfleet_reconcile_duration_seconds_count{controller=\"clusterfetch\"} 1",
        "microfleet_leader 1",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
