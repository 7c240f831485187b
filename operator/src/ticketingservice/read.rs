//! Read: asks API discovery which optional APIs the cluster serves, and reads a TicketingService's children
//! that its status and rollout plan depend on (Deployments, migration Jobs, CloudNativePG clusters, the topic
//! Job or KafkaTopics, the entry).
//!
//! Reads only (a few GETs, and a metadata LIST per kind of child: a TicketingService has few children); what
//! to make of them is `rollout`'s, `writes`' and `status`'s.

use k8s_openapi::api::{apps::v1::Deployment, batch::v1::Job, networking::v1::Ingress};
use kube::{
    api::{DynamicObject, ListParams},
    Api, Client, ResourceExt,
};
use microfleet_crds::{labels, ticketingservice::TicketingService};
use serde_json::{json, Value};

use super::{
    build::BuildConfig,
    component::ComponentKind,
    database::cluster_name,
    discovery::{Discovered, OptionalApi, CNPG_CLUSTER, HTTP_ROUTE, KAFKA_TOPIC, PROMETHEUS_RULE},
    entry::{entry_name, uses_http_route},
    rollout::Observed,
    topics::{topics_job_name, uses_kafka_topics},
    workload::migration_job_name,
    writes::{owned_kinds, OwnedChild},
};
use crate::{
    apply::{dynamic_api, serves, APPLIED_HASH},
    error::Error,
};

/// Which optional APIs the cluster serves now.
pub async fn discover(client: &Client) -> Result<Discovered, Error> {
    let served = |api: OptionalApi| serves(client, api.api_version, api.plural);
    Ok(Discovered {
        strimzi_topics: served(KAFKA_TOPIC).await?,
        cloud_native_pg: served(CNPG_CLUSTER).await?,
        gateway_api: served(HTTP_ROUTE).await?,
        prometheus_operator: served(PROMETHEUS_RULE).await?,
    })
}

/// The children of `ts` its status and rollout plan depend on.
pub async fn observe(
    client: &Client,
    ts: &TicketingService,
    discovered: &Discovered,
    config: &BuildConfig,
) -> Result<Observed, Error> {
    let namespace = ts.namespace().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let mut observed = Observed::default();
    for kind in ComponentKind::ALL {
        let seen = observed.component_mut(kind);
        seen.deployment = deployments.get_opt(&kind.name(ts)).await?;
        seen.migration = jobs.get_opt(&migration_job_name(ts, kind, &config.image(ts, kind))).await?;
        if discovered.cloud_native_pg && kind.spec(&ts.spec).database.cloud_native_pg.is_some() {
            seen.database = get_dynamic(client, &namespace, CNPG_CLUSTER, &cluster_name(ts, kind)).await?;
        }
    }
    if uses_kafka_topics(ts, discovered) {
        let api = dynamic_api(client, &typed_stub(&namespace, KAFKA_TOPIC));
        let selector = format!("{}={}", labels::TICKETING_SERVICE, ts.name_any());
        let topics = api.list(&ListParams::default().labels(&selector)).await?;
        observed.kafka_topics = topics.items.into_iter().filter_map(|t| serde_json::to_value(t).ok()).collect();
    } else {
        observed.topics_job = jobs.get_opt(&topics_job_name(ts)).await?;
    }
    if uses_http_route(ts, discovered) {
        observed.route = get_dynamic(client, &namespace, HTTP_ROUTE, &entry_name(ts)).await?;
    } else {
        observed.ingress = Api::<Ingress>::namespaced(client.clone(), &namespace).get_opt(&entry_name(ts)).await?;
    }
    Ok(observed)
}

/// The children `ts` owns (its label, and it as their controller), by their metadata: one list per kind
/// the cluster serves.
pub async fn owned_children(
    client: &Client,
    ts: &TicketingService,
    discovered: &Discovered,
) -> Result<Vec<OwnedChild>, Error> {
    let namespace = ts.namespace().unwrap_or_default();
    let selector = format!("{}={}", labels::TICKETING_SERVICE, ts.name_any());
    let mut owned = Vec::new();
    for (api_version, kind) in owned_kinds(discovered) {
        let stub = json!({ "apiVersion": api_version, "kind": kind, "metadata": { "namespace": namespace } });
        let list = dynamic_api(client, &stub).list_metadata(&ListParams::default().labels(&selector)).await?;
        for object in list.items {
            let controlled = object
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| r.controller == Some(true) && Some(&r.uid) == ts.metadata.uid.as_ref());
            if !controlled {
                continue;
            }
            owned.push(OwnedChild {
                api_version: api_version.into(),
                kind: kind.into(),
                applied_hash: object.metadata.annotations.as_ref().and_then(|a| a.get(APPLIED_HASH)).cloned(),
                name: object.metadata.name.unwrap_or_default(),
            });
        }
    }
    Ok(owned)
}

/// An object with only the apiVersion, kind and namespace of `api` (to find its API).
fn typed_stub(namespace: &str, api: OptionalApi) -> Value {
    json!({ "apiVersion": api.api_version, "kind": api.kind, "metadata": { "namespace": namespace } })
}

async fn get_dynamic(client: &Client, namespace: &str, api: OptionalApi, name: &str) -> Result<Option<Value>, Error> {
    let found: Option<DynamicObject> = dynamic_api(client, &typed_stub(namespace, api)).get_opt(name).await?;
    Ok(found.and_then(|object| serde_json::to_value(object).ok()))
}
