//! Prometheus metrics of a service: its registry, the HTTP request counter and latency histogram, and the
//! middleware that records them per route template (never per raw path, so label cardinality stays bounded).
//! Services register their own metrics in [`ServiceMetrics::registry`].

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// A service's registry and its HTTP metrics; cheap to clone.
#[derive(Clone)]
pub struct ServiceMetrics {
    /// Where the service registers its own metrics too.
    pub registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl ServiceMetrics {
    /// A registry with `<prefix>_http_requests_total{method,route,status}` and
    /// `<prefix>_http_request_duration_seconds{method,route}`.
    pub fn new(prefix: &str) -> Result<ServiceMetrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(format!("{prefix}_http_requests_total"), "HTTP requests answered, by route and status"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(format!("{prefix}_http_request_duration_seconds"), "HTTP request latency")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            &["method", "route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(ServiceMetrics { registry, requests, latency })
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

/// Middleware (`route_layer(from_fn_with_state(metrics, track_requests))`): counts and times each request.
pub async fn track_requests(State(metrics): State<ServiceMetrics>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_string());
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.latency.with_label_values(&[method.as_str(), route.as_str()]).observe(started.elapsed().as_secs_f64());
    metrics.requests.with_label_values(&[method.as_str(), route.as_str(), response.status().as_str()]).inc();
    response
}
