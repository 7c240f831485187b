//! The admin server on a real 127.0.0.1 port: health, readiness and the metrics the alerts need.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use microfleet_operator::runtime::{
    metrics::Metrics,
    server::{serve_on, AdminState},
};

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Arc::new(Metrics::new().unwrap());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(serve_on(listener, AdminState { metrics: metrics.clone(), ready: ready.clone() }, async {
            let _ = stopped.await;
        }));
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 503);
    ready.store(true, Ordering::Relaxed);
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
