//! The service skeleton every ticketing service runs: its HTTP settings from the environment, `/healthz`
//! (the process is alive), `/readyz` (every dependency answers), `/metrics`, request metrics, and serving
//! until SIGTERM, then finishing in-flight requests within a grace period. The service's own routes come in
//! as a `Router`; nothing here knows the domain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use futures::future::BoxFuture;

use crate::http_metrics::{track_requests, ServiceMetrics};
use crate::shutdown::Shutdown;

/// The exit code of a service process (`migrate` or `serve`): success, or the error logged and printed to
/// stderr (the container's termination log) with the binary's `name`, and failure.
pub fn exit_code(name: &str, result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "{name} failed");
            eprintln!("{name}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The HTTP settings every service takes, from the environment.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
    /// Address the HTTP server listens on
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,
    /// Seconds given to in-flight requests after SIGTERM before the process exits anyway
    #[arg(long, env = "SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,
}

impl ServiceArgs {
    /// Binds the listen address (before the service starts its background tasks, so a taken port fails fast).
    pub async fn bind(&self) -> Result<tokio::net::TcpListener, String> {
        tokio::net::TcpListener::bind(self.listen_addr)
            .await
            .map_err(|error| format!("cannot listen on {}: {error}", self.listen_addr))
    }

    /// Serves `app` on `listener` until `shutdown`, with this grace for in-flight requests ([`serve`]); `name`
    /// is the binary's, for the log line.
    pub async fn serve(
        &self,
        name: &str,
        listener: tokio::net::TcpListener,
        app: Router,
        shutdown: Shutdown,
    ) -> Result<(), String> {
        tracing::info!(listen_addr = %self.listen_addr, "{name} serving");
        serve(listener, app, shutdown, Duration::from_secs(self.shutdown_grace_seconds))
            .await
            .map_err(|error| error.to_string())
    }
}

/// The logging setting every service process (server or admin process) takes.
#[derive(clap::Args, Debug, Clone)]
pub struct LoggingArgs {
    /// Log format: json (one JSON object a line, for containers) or text
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

impl LoggingArgs {
    /// Installs the global logger in this format (`RUST_LOG` sets the level).
    pub fn init(&self) {
        crate::telemetry::init(self.log_format == LogFormat::Json);
    }
}

/// How log lines are written.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines.
    Json,
    /// Readable text.
    Text,
}

/// A named readiness check: `Ok` when the dependency answers, else why not.
pub struct ReadinessCheck {
    /// The dependency's name in `/readyz`'s answer (`database`, later `broker`).
    pub name: &'static str,
    /// The check itself.
    pub check: Box<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>,
}

/// The parts of a service the skeleton serves next to its own routes.
#[derive(Clone)]
pub struct Probes {
    checks: Arc<Vec<ReadinessCheck>>,
    metrics: ServiceMetrics,
}

impl Probes {
    /// Probes over these readiness checks and this registry.
    pub fn new(checks: Vec<ReadinessCheck>, metrics: ServiceMetrics) -> Probes {
        Probes { checks: Arc::new(checks), metrics }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(probes): State<Probes>) -> impl IntoResponse {
    let mut failures = Vec::new();
    for check in probes.checks.iter() {
        if let Err(error) = (check.check)().await {
            failures.push(format!("{}: {error}", check.name));
        }
    }
    if failures.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", failures.join("; ")))
    }
}

async fn metrics(State(probes): State<Probes>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], probes.metrics.render())
}

/// The service's routes plus `/healthz`, `/readyz` and `/metrics`, with request metrics on every route.
pub fn router(routes: Router, probes: Probes) -> Router {
    let metrics = probes.metrics.clone();
    let skeleton = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(self::metrics))
        .with_state(probes);
    routes.merge(skeleton).route_layer(axum::middleware::from_fn_with_state(metrics, track_requests))
}

/// Serves `app` on `listener` until `shutdown`; then stops accepting, lets in-flight requests finish for
/// at most `grace`, and returns. Each request carries its peer address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: Shutdown,
    grace: Duration,
) -> std::io::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().requested());
    tokio::select! {
        result = std::future::IntoFuture::into_future(server) => result,
        _ = async { shutdown.requested().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "in-flight requests still running after the grace period; exiting");
            Ok(())
        }
    }
}
