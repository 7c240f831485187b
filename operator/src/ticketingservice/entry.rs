//! The external entry (the seed's load balancer): one host name routing the CMS and the public APIs only —
//! a Gateway API `HTTPRoute` when that API is installed and the spec names a Gateway, otherwise an
//! `Ingress`. Administration and service-to-service endpoints (introspection, users, API keys, gates,
//! staff, access) are not routed.
//!
//! Pure: the spec and what discovery found in, one object (JSON) out.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};
use microfleet_crds::ticketingservice::TicketingService;
use serde_json::{json, Value};

use super::{
    build::{child_meta, BuildError},
    component::{ComponentKind, HTTP_PORT},
    discovery::{Discovered, HTTP_ROUTE},
};

/// How a path is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatch {
    /// The path and everything under it.
    Prefix,
    /// The path only.
    Exact,
}

/// The public routes: (path, match, component). The CMS takes everything else.
pub const PUBLIC_ROUTES: [(&str, PathMatch, ComponentKind); 9] = [
    ("/v1/orders", PathMatch::Prefix, ComponentKind::Ticketing),
    ("/v1/events", PathMatch::Prefix, ComponentKind::Ticketing),
    ("/v1/scans", PathMatch::Exact, ComponentKind::GateAcl),
    ("/v1/keys", PathMatch::Exact, ComponentKind::GateAcl),
    ("/v1/login", PathMatch::Exact, ComponentKind::Auth),
    ("/v1/token", PathMatch::Prefix, ComponentKind::Auth),
    ("/v1/logout", PathMatch::Exact, ComponentKind::Auth),
    ("/.well-known/jwks.json", PathMatch::Exact, ComponentKind::Auth),
    ("/", PathMatch::Prefix, ComponentKind::Cms),
];

/// Whether the entry is an HTTPRoute (the Gateway API is installed and the spec names a Gateway).
pub fn uses_http_route(ts: &TicketingService, discovered: &Discovered) -> bool {
    discovered.gateway_api && ts.spec.entry.gateway.is_some()
}

/// The entry's name: the TicketingService's.
pub fn entry_name(ts: &TicketingService) -> String {
    ts.metadata.name.clone().unwrap_or_default()
}

/// The URL of the CMS through the entry.
pub fn entry_url(ts: &TicketingService) -> String {
    let scheme = if ts.spec.entry.tls_secret_name.is_some() { "https" } else { "http" };
    format!("{scheme}://{}/", ts.spec.entry.host)
}

/// The entry object: the HTTPRoute or the Ingress.
pub fn build_entry(ts: &TicketingService, discovered: &Discovered) -> Result<Value, BuildError> {
    if uses_http_route(ts, discovered) {
        build_http_route(ts)
    } else {
        Ok(serde_json::to_value(build_ingress(ts)?)?)
    }
}

fn build_http_route(ts: &TicketingService) -> Result<Value, BuildError> {
    let entry = &ts.spec.entry;
    let mut parent = json!({ "group": "gateway.networking.k8s.io", "kind": "Gateway" });
    if let Some(gateway) = &entry.gateway {
        parent["name"] = json!(gateway.name);
        if let Some(namespace) = &gateway.namespace {
            parent["namespace"] = json!(namespace);
        }
        if let Some(section) = &gateway.section_name {
            parent["sectionName"] = json!(section);
        }
    }
    let rules: Vec<Value> = PUBLIC_ROUTES
        .iter()
        .map(|(path, matching, kind)| {
            let type_ = match matching {
                PathMatch::Prefix => "PathPrefix",
                PathMatch::Exact => "Exact",
            };
            json!({
                "matches": [{ "path": { "type": type_, "value": path } }],
                "backendRefs": [{ "name": kind.name(ts), "port": HTTP_PORT }],
            })
        })
        .collect();
    Ok(json!({
        "apiVersion": HTTP_ROUTE.api_version,
        "kind": HTTP_ROUTE.kind,
        "metadata": child_meta(ts, entry_name(ts), None, None)?,
        "spec": { "parentRefs": [parent], "hostnames": [entry.host], "rules": rules },
    }))
}

fn build_ingress(ts: &TicketingService) -> Result<Ingress, BuildError> {
    let entry = &ts.spec.entry;
    let paths = PUBLIC_ROUTES
        .iter()
        .map(|(path, matching, kind)| HTTPIngressPath {
            path: Some((*path).into()),
            path_type: match matching {
                PathMatch::Prefix => "Prefix",
                PathMatch::Exact => "Exact",
            }
            .into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: kind.name(ts),
                    port: Some(ServiceBackendPort { number: Some(HTTP_PORT), ..Default::default() }),
                }),
                ..Default::default()
            },
        })
        .collect();
    Ok(Ingress {
        metadata: child_meta(ts, entry_name(ts), None, None)?,
        spec: Some(IngressSpec {
            ingress_class_name: entry.ingress_class_name.clone(),
            tls: entry.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS { hosts: Some(vec![entry.host.clone()]), secret_name: Some(secret.clone()) }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(entry.host.clone()),
                http: Some(HTTPIngressRuleValue { paths }),
            }]),
            ..Default::default()
        }),
        status: None,
    })
}
