//! The writes every controller makes the same way: server-side apply of a child (any kind, as JSON) with the
//! operator's one field manager, creation of a Job once (its name is the guard), behind the leader fence; the
//! applied-hash stamp that lets a reconcile leave out a write the cluster already holds; and whether the
//! cluster serves an optional API (discovery, a read).
//!
//! Thin I/O only: what to write is decided by each controller's pure `build`.

use k8s_openapi::api::batch::v1::Job;
use kube::{
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    Api, Client, ResourceExt,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{error::Error, runtime::leader::Fence};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "microfleet-operator";

/// The annotation carrying the hash of a child as the operator applied it (so a reconcile can tell, from
/// the child's metadata alone, that it holds what a write would send).
pub const APPLIED_HASH: &str = "microfleet.io/applied-hash";

/// The hex SHA-256 (first 16 digits) of `object` as JSON: what a write would send.
pub fn applied_hash(object: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    Sha256::digest(&bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Puts the hash of `object` (a child as JSON, as built, without the annotation) into its annotations.
pub fn stamp(object: &mut Value) {
    let hash = applied_hash(&*object);
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let annotations = metadata.entry("annotations").or_insert_with(|| Value::Object(Default::default()));
        if let Some(annotations) = annotations.as_object_mut() {
            annotations.insert(APPLIED_HASH.into(), Value::String(hash));
        }
    }
}

/// Whether a create made the object or found it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object was created now.
    New,
    /// An object of that name existed already (an earlier reconcile created it).
    Existing,
}

/// The API of `object`'s kind in its namespace (from its `apiVersion` and `kind`).
pub fn dynamic_api(client: &Client, object: &Value) -> Api<DynamicObject> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let kind = object["kind"].as_str().unwrap_or_default();
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Server-side applies `object` (forcing ownership of its fields) behind `fence`.
pub async fn apply_object(client: &Client, fence: &Fence, object: &Value) -> Result<(), Error> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let api = dynamic_api(client, object);
    fence.check()?;
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object)).await?;
    Ok(())
}

/// Creates `job` unless a Job of that name exists; the stable names make this the once-only guard (a Job's
/// template cannot change, so it is never applied again).
pub async fn create_job_once(client: &Client, fence: &Fence, job: &Job) -> Result<Created, Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), &job.namespace().unwrap_or_default());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    fence.check()?;
    match api.create(&params, job).await {
        Ok(_) => Ok(Created::New),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Created::Existing),
        Err(e) => Err(e.into()),
    }
}

/// Whether the cluster serves `plural` in `api_version` (API discovery). An unclear answer (the API server
/// unreachable) is an error, so a reconcile does not take an installed API for a missing one.
pub async fn serves(client: &Client, api_version: &str, plural: &str) -> Result<bool, Error> {
    match client.list_api_group_resources(api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == plural)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(error) => Err(error.into()),
    }
}
