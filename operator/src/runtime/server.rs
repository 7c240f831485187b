//! The admin HTTP server: `/metrics` (Prometheus), `/healthz` (liveness) and `/readyz` (readiness).
//!
//! Serves state owned elsewhere; decides nothing.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Router};

use super::{metrics::Metrics, watches::WatchHealth};

/// What the admin endpoints report.
#[derive(Clone)]
pub struct AdminState {
    /// The metrics registry.
    pub metrics: Arc<Metrics>,
    /// True once this replica is ready: leading with its caches synced, or standing by as a follower.
    pub ready: Arc<AtomicBool>,
    /// The watches that fail now: while any does, `/readyz` answers 503 and names them.
    pub watches: WatchHealth,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], state.metrics.render())
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let failing = state.watches.failing();
    if !failing.is_empty() {
        let lines: Vec<String> =
            failing.iter().map(|(resource, error)| format!("watch of {resource} failing: {error}")).collect();
        return (StatusCode::SERVICE_UNAVAILABLE, format!("not ready\n{}\n", lines.join("\n")));
    }
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: caches not synced yet".to_string())
    }
}

/// Serves the admin routes on `addr` until `shutdown` resolves.
pub async fn serve(
    addr: SocketAddr,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "admin server listening");
    serve_on(listener, state, shutdown).await
}

/// Serves the admin routes on a bound listener until `shutdown` resolves.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
