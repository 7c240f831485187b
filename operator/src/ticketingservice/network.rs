//! The seed's internal network as NetworkPolicies: each component reachable only from the entry (the CMS
//! and the public APIs), the components that call it and Prometheus; each reaching only DNS, its own
//! database, the broker (the saga's services) and the services it calls (the auth service; the CMS all
//! three). The topic Job reaches DNS and the broker only.
//!
//! Pure: the spec in, policies out. With `spec.network.policies` false, none.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{
    api::networking::v1::{
        NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
        NetworkPolicySpec,
    },
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};
use microfleet_crds::{labels, ticketingservice::TicketingService};

use super::{
    build::{child_meta, BuildError},
    component::{ComponentKind, HTTP_PORT},
    database::cluster_name,
    entry::PUBLIC_ROUTES,
};

/// The label the namespace admission controller puts on every namespace: its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The port CloudNativePG's instances serve PostgreSQL on.
const POSTGRES_PORT: i32 = 5432;

/// The NetworkPolicies of `ts`: one per component (its serving and migration pods), one for the topic Job.
pub fn build_network_policies(ts: &TicketingService) -> Result<Vec<NetworkPolicy>, BuildError> {
    if !ts.spec.network.policies {
        return Ok(Vec::new());
    }
    let mut policies = Vec::new();
    for kind in ComponentKind::ALL {
        policies.push(component_policy(ts, kind)?);
    }
    policies.push(NetworkPolicy {
        metadata: child_meta(ts, format!("{}-topics", ts.metadata.name.as_deref().unwrap_or_default()), None, None)?,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(BTreeMap::from([
                (labels::TICKETING_SERVICE.to_string(), ts.metadata.name.clone().unwrap_or_default()),
                (labels::ROLE.to_string(), labels::ROLE_TOPICS.to_string()),
            ]))),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(Vec::new()),
            egress: Some(vec![dns_rule(), broker_rule(ts)]),
        }),
    });
    Ok(policies)
}

fn component_policy(ts: &TicketingService, kind: ComponentKind) -> Result<NetworkPolicy, BuildError> {
    let network = &ts.spec.network;
    let mut from: Vec<NetworkPolicyPeer> =
        kind.callers().into_iter().map(|caller| component_peer(ts, caller)).collect();
    if PUBLIC_ROUTES.iter().any(|(_, _, routed)| *routed == kind) {
        from.push(match &network.entry_namespace {
            Some(namespace) => namespace_peer(namespace),
            // no entry namespace named: the entry's proxies may be anywhere
            None => NetworkPolicyPeer { namespace_selector: Some(LabelSelector::default()), ..Default::default() },
        });
    }
    if let Some(namespace) = &network.monitoring_namespace {
        from.push(namespace_peer(namespace));
    }
    let mut egress = vec![dns_rule(), database_rule(ts, kind)];
    if kind.uses_broker() {
        egress.push(broker_rule(ts));
    }
    if !kind.calls().is_empty() {
        egress.push(NetworkPolicyEgressRule {
            to: Some(kind.calls().iter().map(|callee| component_peer(ts, *callee)).collect()),
            ports: Some(vec![tcp(HTTP_PORT)]),
        });
    }
    Ok(NetworkPolicy {
        metadata: child_meta(ts, kind.name(ts), Some(kind), None)?,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector(component_labels(ts, kind))),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule { from: Some(from), ports: Some(vec![tcp(HTTP_PORT)]) }]),
            egress: Some(egress),
        }),
    })
}

/// The labels of every pod of a component (serving and migrating).
fn component_labels(ts: &TicketingService, kind: ComponentKind) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::TICKETING_SERVICE.to_string(), ts.metadata.name.clone().unwrap_or_default()),
        (labels::COMPONENT.to_string(), kind.suffix().to_string()),
    ])
}

fn component_peer(ts: &TicketingService, kind: ComponentKind) -> NetworkPolicyPeer {
    let mut labels = component_labels(ts, kind);
    labels.insert(labels::ROLE.to_string(), labels::ROLE_SERVE.to_string());
    NetworkPolicyPeer { pod_selector: Some(selector(labels)), ..Default::default() }
}

fn namespace_peer(namespace: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(selector(BTreeMap::from([(NAMESPACE_NAME_LABEL.to_string(), namespace.to_string())]))),
        ..Default::default()
    }
}

fn selector(labels: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels), ..Default::default() }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { port: Some(IntOrString::Int(port)), protocol: Some("TCP".into()), ..Default::default() }
}

/// Name resolution: port 53 over UDP and TCP, to any address (the cluster DNS's labels differ by cluster).
fn dns_rule() -> NetworkPolicyEgressRule {
    let port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.into()),
        ..Default::default()
    };
    NetworkPolicyEgressRule { to: None, ports: Some(vec![port("UDP"), port("TCP")]) }
}

/// The component's own database: its CloudNativePG cluster's pods, or (a database named by a URL, whose
/// address the operator does not know) the spec's database port at any address.
fn database_rule(ts: &TicketingService, kind: ComponentKind) -> NetworkPolicyEgressRule {
    if kind.spec(&ts.spec).database.cloud_native_pg.is_some() {
        let pods = BTreeMap::from([("cnpg.io/cluster".to_string(), cluster_name(ts, kind))]);
        return NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer { pod_selector: Some(selector(pods)), ..Default::default() }]),
            ports: Some(vec![tcp(POSTGRES_PORT)]),
        };
    }
    NetworkPolicyEgressRule { to: None, ports: Some(vec![tcp(ts.spec.network.database_port)]) }
}

/// The broker: the bootstrap servers' ports at any address (the brokers' addresses come from the cluster's
/// metadata at run time).
fn broker_rule(ts: &TicketingService) -> NetworkPolicyEgressRule {
    let ports: BTreeSet<i32> = ts
        .spec
        .kafka
        .bootstrap_servers
        .iter()
        .filter_map(|server| server.rsplit_once(':').and_then(|(_, port)| port.parse().ok()))
        .collect();
    NetworkPolicyEgressRule { to: None, ports: Some(ports.into_iter().map(tcp).collect()) }
}
