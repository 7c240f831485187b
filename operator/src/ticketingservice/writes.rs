//! Writes: which children a reconcile applies and which it deletes, from the desired children (stamped
//! with their applied hash) and the metadata of the children the TicketingService owns. A child whose
//! applied hash matches is left alone (a reconcile with nothing to change writes nothing), unless a periodic
//! full apply is due (it puts back what a person edited by hand); a Job is created once. The children no
//! longer wanted are deleted — the autoscaler once autoscaling is unset, the Ingress once an HTTPRoute takes
//! over (and back), the NetworkPolicies once switched off, the ServiceMonitor and PrometheusRule once alerts
//! are off — but never children holding data (CloudNativePG clusters, KafkaTopics) or Jobs (the
//! migrations' history).
//!
//! Pure: values in, the writes out.

use serde_json::Value;

use super::discovery::{Discovered, CNPG_CLUSTER, HTTP_ROUTE, KAFKA_TOPIC, PROMETHEUS_RULE, SERVICE_MONITOR};
use crate::apply::APPLIED_HASH;

/// A kind of child: (apiVersion, kind).
pub type ChildKind = (&'static str, &'static str);

/// A child the TicketingService owns, as its metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedChild {
    /// Its apiVersion.
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The hash it was applied with (the `microfleet.io/applied-hash` annotation).
    pub applied_hash: Option<String>,
}

/// The writes of one reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Writes {
    /// Children to apply (or, for Jobs, to create).
    pub apply: Vec<Value>,
    /// Children to delete.
    pub delete: Vec<OwnedChild>,
}

const ALWAYS_PRUNABLE: [ChildKind; 3] = [
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
];

/// Every kind a TicketingService may own that the cluster serves (what the read step lists).
pub fn owned_kinds(discovered: &Discovered) -> Vec<ChildKind> {
    let mut kinds = vec![
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("batch/v1", "Job"),
        ("apps/v1", "Deployment"),
        ("policy/v1", "PodDisruptionBudget"),
    ];
    kinds.extend(ALWAYS_PRUNABLE);
    let optional = [
        (discovered.strimzi_topics, KAFKA_TOPIC),
        (discovered.cloud_native_pg, CNPG_CLUSTER),
        (discovered.gateway_api, HTTP_ROUTE),
        (discovered.prometheus_operator, SERVICE_MONITOR),
        (discovered.prometheus_operator, PROMETHEUS_RULE),
    ];
    kinds.extend(optional.into_iter().filter(|(served, _)| *served).map(|(_, api)| (api.api_version, api.kind)));
    kinds
}

/// Whether objects of `kind` are deleted once no longer desired.
fn prunable(kind: &str) -> bool {
    ALWAYS_PRUNABLE.iter().any(|(_, k)| *k == kind)
        || [HTTP_ROUTE.kind, SERVICE_MONITOR.kind, PROMETHEUS_RULE.kind].contains(&kind)
}

fn hash_of(child: &Value) -> Option<&str> {
    child.pointer("/metadata/annotations").and_then(|a| a.get(APPLIED_HASH)).and_then(Value::as_str)
}

fn same(child: &Value, owned: &OwnedChild) -> bool {
    child["kind"] == owned.kind.as_str() && child["metadata"]["name"] == owned.name.as_str()
}

/// The writes that bring the owned children in line with the desired ones; with `full`, every desired child
/// but the Jobs is applied whatever its hash.
pub fn plan_writes(desired: &[Value], owned: &[OwnedChild], full: bool) -> Writes {
    let apply = desired
        .iter()
        .filter(|child| {
            let existing = owned.iter().find(|o| same(child, o));
            match existing {
                None => true,
                Some(_) if child["kind"] == "Job" => false,
                Some(_) if full => true,
                Some(o) => o.applied_hash.as_deref() != hash_of(child) || hash_of(child).is_none(),
            }
        })
        .cloned()
        .collect();
    let delete =
        owned.iter().filter(|o| prunable(&o.kind) && !desired.iter().any(|child| same(child, o))).cloned().collect();
    Writes { apply, delete }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticketingservice::{
        build::build_children,
        fixtures::{config, ticketing_service},
        rollout::Plan,
    };
    use microfleet_crds::ticketingservice::TicketingService;

    const EVERYTHING: Discovered =
        Discovered { strimzi_topics: true, cloud_native_pg: true, gateway_api: true, prometheus_operator: true };

    fn children(ts: &TicketingService) -> Vec<Value> {
        build_children(ts, &EVERYTHING, &Plan::settled(ts, &config()), &config()).unwrap()
    }

    /// What the cluster holds after `desired` was applied.
    fn applied(desired: &[Value]) -> Vec<OwnedChild> {
        desired
            .iter()
            .map(|c| OwnedChild {
                api_version: c["apiVersion"].as_str().unwrap().into(),
                kind: c["kind"].as_str().unwrap().into(),
                name: c["metadata"]["name"].as_str().unwrap().into(),
                applied_hash: hash_of(c).map(str::to_string),
            })
            .collect()
    }

    fn kinds(values: impl IntoIterator<Item = String>) -> Vec<String> {
        let mut out: Vec<String> = values.into_iter().collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn nothing_changed_nothing_written_and_a_change_writes_only_what_it_changes() {
        let ts = ticketing_service();
        let desired = children(&ts);
        assert!(desired.iter().all(|c| hash_of(c).is_some()), "every child is stamped");
        let everything = plan_writes(&desired, &[], false);
        assert_eq!(everything.apply.len(), desired.len(), "a first reconcile applies everything");
        assert_eq!(plan_writes(&desired, &applied(&desired), false), Writes::default(), "in line: no write");

        let mut changed = ts.clone();
        changed.spec.cms.config.insert("TIME_ZONE".into(), "Asia/Jakarta".into());
        let writes = plan_writes(&children(&changed), &applied(&desired), false);
        let written: Vec<String> =
            writes.apply.iter().map(|c| format!("{} {}", c["kind"], c["metadata"]["name"])).collect();
        assert_eq!(
            written,
            ["\"ConfigMap\" \"tickets-cms\"", "\"Deployment\" \"tickets-cms\""],
            "the ConfigMap, and the pods it rolls"
        );

        let full = plan_writes(&desired, &applied(&desired), true);
        assert!(full.apply.iter().all(|c| c["kind"] != "Job"), "a Job is never applied twice");
        assert_eq!(full.apply.len(), desired.iter().filter(|c| c["kind"] != "Job").count());
    }

    #[test]
    fn what_the_spec_no_longer_asks_for_is_deleted_and_data_never() {
        let ts = ticketing_service();
        let before = applied(&children(&ts));
        let mut after = ts.clone();
        after.spec.ticketing.autoscaling = None;
        after.spec.entry.gateway = serde_json::from_value(serde_json::json!({"name": "public"})).unwrap();
        after.spec.alerts.enabled = false;
        after.spec.network.policies = false;
        after.spec.auth.database =
            serde_json::from_value(serde_json::json!({"urlSecretKeyRef": {"name": "a", "key": "url"}})).unwrap();
        after.spec.ticketing.image = Some("registry.local/ticketing-service:2".into());
        let writes = plan_writes(&children(&after), &before, false);
        assert_eq!(
            kinds(writes.delete.iter().map(|o| o.kind.clone())),
            ["HorizontalPodAutoscaler", "Ingress", "NetworkPolicy", "PrometheusRule", "ServiceMonitor"]
        );
        assert!(writes.delete.iter().all(|o| o.kind != "Cluster" && o.kind != "KafkaTopic" && o.kind != "Job"));
        let listed: Vec<&str> = owned_kinds(&Discovered::default()).into_iter().map(|(_, kind)| kind).collect();
        assert!(!listed.contains(&"HTTPRoute") && listed.contains(&"Ingress"), "only the kinds the cluster serves");
    }
}
