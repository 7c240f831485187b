//! Monitoring of a TicketingService, for the prometheus-operator: a ServiceMonitor scraping every
//! component's `/metrics`, and a PrometheusRule — a component without a ready target, the saga's outbox
//! backlog, dead letters, the 5xx share of requests, and the p99 latency of orders and of gate scans — on the
//! metric names the services export (`workloads/common`: `<prefix>_http_requests_total`,
//! `<prefix>_http_request_duration_seconds`, `saga_outbox_oldest_pending_age_seconds`,
//! `saga_dead_letters_total`).
//!
//! Pure: the spec in, objects (JSON) out.

use std::collections::BTreeMap;

use microfleet_crds::{labels, ticketingservice::TicketingService};
use serde_json::{json, Value};

use super::{
    build::{child_labels, child_meta, BuildError},
    component::ComponentKind,
    discovery::{PROMETHEUS_RULE, SERVICE_MONITOR},
};

/// The name of the ServiceMonitor and of the PrometheusRule: the TicketingService's.
pub fn monitoring_name(ts: &TicketingService) -> String {
    ts.metadata.name.clone().unwrap_or_default()
}

/// The ServiceMonitor: every component's Service (label `microfleet.io/ticketingservice`), port `http`,
/// path `/metrics`.
pub fn build_service_monitor(ts: &TicketingService, extra: &BTreeMap<String, String>) -> Result<Value, BuildError> {
    let mut meta = child_meta(ts, monitoring_name(ts), None, None)?;
    meta.labels.get_or_insert_with(BTreeMap::new).extend(extra.clone());
    let selector = BTreeMap::from([(labels::TICKETING_SERVICE.to_string(), monitoring_name(ts))]);
    Ok(json!({
        "apiVersion": SERVICE_MONITOR.api_version,
        "kind": SERVICE_MONITOR.kind,
        "metadata": meta,
        "spec": {
            "selector": { "matchLabels": selector },
            "endpoints": [{ "port": "http", "path": "/metrics", "interval": "30s" }],
        },
    }))
}

/// The PrometheusRule with the system's alerts, at the spec's thresholds.
pub fn build_prometheus_rule(ts: &TicketingService, extra: &BTreeMap<String, String>) -> Result<Value, BuildError> {
    let alerts = &ts.spec.alerts;
    let namespace = ts.metadata.namespace.clone().unwrap_or_default();
    let name = monitoring_name(ts);
    let service = |kind: ComponentKind| format!("namespace=\"{namespace}\", service=\"{}\"", kind.name(ts));
    let saga = format!(
        "namespace=\"{namespace}\", service=~\"{}|{}\"",
        ComponentKind::Ticketing.name(ts),
        ComponentKind::GateAcl.name(ts)
    );
    let rule_labels = |severity: &str, component: Option<ComponentKind>| {
        let mut labels = alerts.labels.clone();
        labels.insert("severity".into(), severity.into());
        labels.insert("namespace".into(), namespace.clone());
        if let Some(component) = component {
            labels.insert("component".into(), component.field().into());
        }
        labels
    };
    let subject = format!("TicketingService {namespace}/{name}");
    let mut rules = Vec::new();
    for kind in ComponentKind::ALL {
        rules.push(json!({
            "alert": "TicketingComponentUnavailable",
            "expr": format!("absent(up{{{}}} == 1)", service(kind)),
            "for": "2m",
            "labels": rule_labels("critical", Some(kind)),
            "annotations": {
                "summary": format!("{} of {subject} has no ready target", kind.binary()),
                "description": format!("No pod of {} answers /metrics: kubectl -n {namespace} describe deployment {} shows why.", kind.binary(), kind.name(ts)),
            },
        }));
    }
    for kind in ComponentKind::ALL {
        let metric = format!("{}_http_requests_total", kind.metrics_prefix());
        rules.push(json!({
            "alert": "TicketingErrorRateHigh",
            "expr": format!(
                "sum(rate({metric}{{{sel}, status=~\"5..\"}}[5m])) / sum(rate({metric}{{{sel}}}[5m])) > {}",
                f64::from(alerts.error_rate_percent) / 100.0,
                sel = service(kind)
            ),
            "for": "5m",
            "labels": rule_labels("warning", Some(kind)),
            "annotations": {
                "summary": format!("{} of {subject} answers over {}% of its requests with 5xx", kind.binary(), alerts.error_rate_percent),
                "description": "The service's logs name the failing requests; /readyz says whether its database or broker is down.",
            },
        }));
    }
    rules.push(json!({
        "alert": "TicketingSagaBacklog",
        "expr": format!("max(saga_outbox_oldest_pending_age_seconds{{{saga}}}) > {}", alerts.saga_backlog_seconds),
        "for": "2m",
        "labels": rule_labels("warning", None),
        "annotations": {
            "summary": format!("The saga of {subject} lags: an outbox message waits over {}s", alerts.saga_backlog_seconds),
            "description": "The outbox relay cannot publish to the broker (is Kafka reachable?), or publishes slower than orders arrive.",
        },
    }));
    rules.push(json!({
        "alert": "TicketingDeadLetters",
        "expr": format!("sum(increase(saga_dead_letters_total{{{saga}}}[15m])) > {}", alerts.dead_letters),
        "labels": rule_labels("critical", None),
        "annotations": {
            "summary": format!("{subject} dead-lettered more than {} saga messages in 15 minutes", alerts.dead_letters),
            "description": format!("A consumer gave up on messages: read them from {}.dead-letter and fix their cause before replaying.", ts.spec.kafka.topic_prefix),
        },
    }));
    let latency = |kind: ComponentKind, route: &str, milliseconds: i32, what: &str| {
        json!({
            "alert": if kind == ComponentKind::Ticketing { "TicketingOrderLatencyHigh" } else { "TicketingScanLatencyHigh" },
            "expr": format!(
                "histogram_quantile(0.99, sum by (le) (rate({}_http_request_duration_seconds_bucket{{{}, method=\"POST\", route=\"{route}\"}}[5m]))) > {}",
                kind.metrics_prefix(),
                service(kind),
                f64::from(milliseconds) / 1000.0
            ),
            "for": "5m",
            "labels": rule_labels("warning", Some(kind)),
            "annotations": {
                "summary": format!("p99 latency of {what} of {subject} is over {milliseconds} ms"),
                "description": "Check the database's load and the service's CPU (its autoscaler, if any).",
            },
        })
    };
    rules.push(latency(ComponentKind::Ticketing, "/v1/orders", alerts.order_p99_milliseconds, "orders"));
    rules.push(latency(ComponentKind::GateAcl, "/v1/scans", alerts.scan_p99_milliseconds, "gate scans"));
    let mut meta = child_meta(ts, monitoring_name(ts), None, None)?;
    let mut object_labels = child_labels(ts, None, None);
    object_labels.extend(extra.clone());
    meta.labels = Some(object_labels);
    Ok(json!({
        "apiVersion": PROMETHEUS_RULE.api_version,
        "kind": PROMETHEUS_RULE.kind,
        "metadata": meta,
        "spec": { "groups": [{ "name": format!("microfleet-ticketing-{namespace}-{name}"), "rules": rules }] },
    }))
}
