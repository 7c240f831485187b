//! Prune: which children a TicketingService no longer wants — the autoscaler once autoscaling is unset,
//! the Ingress once an HTTPRoute takes over (and back), the NetworkPolicies once switched off, the
//! ServiceMonitor and PrometheusRule once alerts are off. Children holding data (CloudNativePG clusters,
//! KafkaTopics) and Jobs (the migrations' history) are never pruned.
//!
//! Pure: the desired children and the names found in, the names to delete out.

use serde_json::Value;

use super::discovery::{Discovered, HTTP_ROUTE, PROMETHEUS_RULE, SERVICE_MONITOR};

/// A kind whose objects are deleted when no longer desired: (apiVersion, kind).
pub type PrunableKind = (&'static str, &'static str);

/// The kinds to look for stale objects of, in a cluster where discovery found `discovered`.
pub fn prunable_kinds(discovered: &Discovered) -> Vec<PrunableKind> {
    let mut kinds = vec![
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    ];
    if discovered.gateway_api {
        kinds.push((HTTP_ROUTE.api_version, HTTP_ROUTE.kind));
    }
    if discovered.prometheus_operator {
        kinds.push((SERVICE_MONITOR.api_version, SERVICE_MONITOR.kind));
        kinds.push((PROMETHEUS_RULE.api_version, PROMETHEUS_RULE.kind));
    }
    kinds
}

/// The names among `existing` (objects of `kind` the TicketingService owns) that no desired child has.
pub fn stale(desired: &[Value], kind: &str, existing: &[String]) -> Vec<String> {
    existing
        .iter()
        .filter(|name| !desired.iter().any(|d| d["kind"] == kind && d["metadata"]["name"] == name.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticketingservice::{
        build::build_children,
        fixtures::{config, ticketing_service},
        rollout::Plan,
    };

    #[test]
    fn what_the_spec_no_longer_asks_for_is_stale_and_nothing_else() {
        let ts = ticketing_service();
        let everything =
            Discovered { strimzi_topics: true, cloud_native_pg: true, gateway_api: true, prometheus_operator: true };
        let children = |ts| build_children(ts, &everything, &Plan::settled(ts, &config()), &config()).unwrap();
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

        let mut fixed = ts.clone();
        fixed.spec.ticketing.autoscaling = None;
        let hpas = names(&["tickets-ticketing"]);
        assert_eq!(stale(&children(&ts), "HorizontalPodAutoscaler", &hpas), Vec::<String>::new());
        assert_eq!(stale(&children(&fixed), "HorizontalPodAutoscaler", &hpas), hpas, "autoscaling unset");

        let mut routed = ts.clone();
        routed.spec.entry.gateway = serde_json::from_value(serde_json::json!({"name": "public"})).unwrap();
        assert_eq!(
            stale(&children(&routed), "Ingress", &names(&["tickets"])),
            names(&["tickets"]),
            "an HTTPRoute took over"
        );
        assert_eq!(stale(&children(&ts), "HTTPRoute", &names(&["tickets"])), names(&["tickets"]), "back to an Ingress");

        let mut quiet = ts.clone();
        quiet.spec.alerts.enabled = false;
        quiet.spec.network.policies = false;
        assert_eq!(stale(&children(&quiet), "PrometheusRule", &names(&["tickets"])), names(&["tickets"]));
        assert_eq!(stale(&children(&quiet), "NetworkPolicy", &names(&["tickets-cms", "tickets-topics"])).len(), 2);

        let kinds: Vec<&str> = prunable_kinds(&everything).into_iter().map(|(_, kind)| kind).collect();
        assert!(!kinds.contains(&"Cluster") && !kinds.contains(&"KafkaTopic") && !kinds.contains(&"Job"), "data stays");
        assert_eq!(prunable_kinds(&Discovered::default()).len(), 3, "only the kinds the cluster serves are listed");
    }
}
