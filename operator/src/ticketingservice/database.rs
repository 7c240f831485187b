//! A component's database: where its URL comes from (the spec's Secret, or the `<cluster>-app` Secret
//! CloudNativePG writes) and the CloudNativePG `Cluster` the operator emits when the spec asks for one.
//!
//! Pure: the spec in, a reference or an object (JSON: Cluster is not a built-in kind) out. No I/O.

use microfleet_crds::{clusterfetch::SecretKeyRef, ticketingservice::TicketingService};
use serde_json::{json, Value};

use super::{
    build::{child_meta, BuildError},
    component::ComponentKind,
    discovery::CNPG_CLUSTER,
};

/// The key of the `<cluster>-app` Secret holding the application user's URL.
const CNPG_URI_KEY: &str = "uri";

/// The name of a component's CloudNativePG cluster: `<ts>-<suffix>-db`.
pub fn cluster_name(ts: &TicketingService, kind: ComponentKind) -> String {
    format!("{}-db", kind.name(ts))
}

/// The Secret key of a component's database URL.
pub fn database_url_ref(ts: &TicketingService, kind: ComponentKind) -> SecretKeyRef {
    let database = &kind.spec(&ts.spec).database;
    match &database.url_secret_key_ref {
        Some(reference) => reference.clone(),
        None => SecretKeyRef { name: format!("{}-app", cluster_name(ts, kind)), key: CNPG_URI_KEY.into() },
    }
}

/// The CloudNativePG `Cluster` of a component whose spec asks for one: its instances and volumes, one
/// database named after the component, owned by a user of the same name (CloudNativePG writes that user's
/// URL into `<cluster>-app`). `None` for a database named by a Secret.
pub fn build_cnpg_cluster(ts: &TicketingService, kind: ComponentKind) -> Result<Option<Value>, BuildError> {
    let Some(cnpg) = &kind.spec(&ts.spec).database.cloud_native_pg else { return Ok(None) };
    let meta = child_meta(ts, cluster_name(ts, kind), Some(kind), None)?;
    let mut storage = json!({ "size": cnpg.storage_size });
    if let Some(class) = &cnpg.storage_class {
        storage["storageClass"] = json!(class);
    }
    Ok(Some(json!({
        "apiVersion": CNPG_CLUSTER.api_version,
        "kind": CNPG_CLUSTER.kind,
        "metadata": meta,
        "spec": {
            "instances": cnpg.instances,
            "storage": storage,
            "bootstrap": { "initdb": { "database": kind.database_name(), "owner": kind.database_name() } },
        },
    })))
}

/// Whether an observed CloudNativePG cluster serves: every instance ready (its `Ready` condition, or
/// `readyInstances` matching `instances`).
pub fn cnpg_cluster_ready(cluster: &Value) -> bool {
    let condition = cluster
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| conditions.iter().find(|c| c["type"] == "Ready").map(|c| c["status"] == "True"));
    if let Some(ready) = condition {
        return ready;
    }
    let wanted = cluster.pointer("/spec/instances").and_then(Value::as_i64);
    let ready = cluster.pointer("/status/readyInstances").and_then(Value::as_i64);
    matches!((wanted, ready), (Some(w), Some(r)) if r >= w)
}
