//! The one validation of a ClusterFetch, shared by the operator, `microfleet-operator render` and the
//! fetcher's local run (`run --spec`): the CRD's own schema and CEL rules as the API server applies them
//! (unknown fields refused with the nearest known name), then the checks only the operator makes (schedule
//! and time zone exactly as the CronJob validation reads them). A TicketingService goes through the same
//! schema and CEL admission (its cluster-dependent checks are the operator's).
//!
//! Pure: a manifest or a spec in, the problems out, each naming the field and the fix. No I/O; the API server
//! stays the authority in a cluster (the catalogue test holds the two to the same verdicts).

mod schedule;
mod schema;
mod time_zone;

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

pub use schedule::{parse_schedule, Schedule};
pub use time_zone::check_time_zone;

use crate::clusterfetch::{ClusterFetch, ClusterFetchSpec};
use crate::ticketingservice::TicketingService;

/// One thing wrong with a ClusterFetch, found before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecProblem {
    /// Reason for the condition and the Event, e.g. `InvalidSchedule`, `UnknownField`, `FailedRule`.
    pub reason: &'static str,
    /// The field path, e.g. `spec.schedule`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SpecProblem {
    fn new(reason: &'static str, field: &str, message: String) -> SpecProblem {
        SpecProblem { reason, field: field.into(), message }
    }
}

/// Validates a ClusterFetch manifest as the API server would admit it and the operator would then accept it;
/// on success, the ClusterFetch with the schema's defaults filled in.
pub fn validate_manifest(manifest: &Value) -> Result<ClusterFetch, Vec<SpecProblem>> {
    let object = admit(manifest, "ClusterFetch", crd_schema(&CLUSTER_FETCH, ClusterFetch::crd))?;
    let cf: ClusterFetch = serde_json::from_value(object)
        .map_err(|e| vec![SpecProblem::new("InvalidField", "spec", format!("does not read as a ClusterFetch: {e}"))])?;
    validate_spec(&cf.spec)?;
    Ok(cf)
}

/// Validates a TicketingService manifest as the API server would admit it (its schema and CEL rules); on
/// success, the TicketingService with the schema's defaults filled in. What depends on the cluster (which
/// optional APIs are installed) is the operator's to check.
pub fn validate_ticketing_service_manifest(manifest: &Value) -> Result<TicketingService, Vec<SpecProblem>> {
    let object = admit(manifest, "TicketingService", crd_schema(&TICKETING_SERVICE, TicketingService::crd))?;
    serde_json::from_value(object).map_err(|e| {
        vec![SpecProblem::new("InvalidField", "spec", format!("does not read as a TicketingService: {e}"))]
    })
}

/// Checks `object` against a CRD's `openAPIV3Schema` as the API server would (pruning of nulls, defaults,
/// the schema's types, bounds and patterns, unknown fields, then its CEL rules): for objects of other
/// projects' kinds (KafkaTopic, HTTPRoute, ...) checked against their own CRDs without a cluster.
pub fn check_against_crd_schema(schema: &Value, object: &Value) -> Result<(), Vec<SpecProblem>> {
    let mut schema = schema.clone();
    with_object_fields(&mut schema);
    let mut object = object.clone();
    let mut problems = Vec::new();
    schema::walk(&schema, &mut object, "", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let compiled = kube_cel::compile_schema(&schema);
    if let Err(errors) = kube_cel::validate_compiled(&compiled, &without_nulls(&object), None) {
        return Err(errors.iter().map(|e| SpecProblem::new("FailedRule", &e.field_path, e.message.clone())).collect());
    }
    Ok(())
}

/// A manifest of `kind` through the CRD's schema (defaults filled in) and its CEL rules, as the API server
/// admits it; the object as it would be stored.
fn admit(manifest: &Value, kind: &str, schema: &Value) -> Result<Value, Vec<SpecProblem>> {
    let api_version = manifest.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let found = manifest.get("kind").and_then(Value::as_str).unwrap_or_default();
    if api_version != "microfleet.io/v1alpha1" || found != kind {
        let message =
            format!("expected apiVersion microfleet.io/v1alpha1 and kind {kind}, found {api_version:?} {found:?}");
        return Err(vec![SpecProblem::new("WrongKind", "kind", message)]);
    }
    let mut object = manifest.clone();
    if let Some(fields) = object.as_object_mut() {
        // (the status subresource: the server ignores a status sent with the object)
        fields.remove("status");
    }
    let mut problems = Vec::new();
    schema::walk(schema, &mut object, "", &mut problems);
    check_name(&object, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let compiled = kube_cel::compile_schema(schema);
    if let Err(errors) = kube_cel::validate_compiled(&compiled, &without_nulls(&object), None) {
        return Err(errors.iter().map(|e| SpecProblem::new("FailedRule", &e.field_path, e.message.clone())).collect());
    }
    Ok(object)
}

/// Checks everything about an admitted spec that the CRD's schema and CEL rules leave to the operator.
pub fn validate_spec(spec: &ClusterFetchSpec) -> Result<(), Vec<SpecProblem>> {
    let mut problems = Vec::new();
    if let Err(message) = parse_schedule(&spec.schedule) {
        problems.push(SpecProblem::new("InvalidSchedule", "spec.schedule", message));
    }
    if let Some(zone) = &spec.time_zone {
        if let Err(message) = check_time_zone(zone) {
            problems.push(SpecProblem::new("InvalidTimeZone", "spec.timeZone", message));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

static CLUSTER_FETCH: OnceLock<Value> = OnceLock::new();
static TICKETING_SERVICE: OnceLock<Value> = OnceLock::new();

/// The openAPIV3Schema of a CRD generated from the Rust types (what `crds/*.yaml` holds), with the fields
/// every object has and the server adds to it (`apiVersion`, `kind`, `metadata`); made once per kind.
fn crd_schema(
    cell: &'static OnceLock<Value>,
    crd: fn() -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> &'static Value {
    cell.get_or_init(|| {
        let crd = crd();
        let schema =
            crd.spec.versions.first().and_then(|v| v.schema.as_ref()).and_then(|s| s.open_api_v3_schema.as_ref());
        let mut schema = schema.and_then(|s| serde_json::to_value(s).ok()).unwrap_or(Value::Null);
        with_object_fields(&mut schema);
        schema
    })
}

/// Adds to a CRD's schema the fields every object has and the server adds to it (`apiVersion`, `kind`,
/// `metadata`).
fn with_object_fields(schema: &mut Value) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, kind) in [("apiVersion", "string"), ("kind", "string"), ("metadata", "object")] {
            properties.entry(name).or_insert_with(|| serde_json::json!({ "type": kind }));
        }
    }
}

/// The server's checks of `metadata.name` (the CRD's schema leaves metadata to it).
fn check_name(object: &Value, problems: &mut Vec<SpecProblem>) {
    let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
        problems.push(SpecProblem::new("InvalidField", "metadata.name", "Required value: name is required".into()));
        return;
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || !name.split('.').all(label) {
        let message = format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
        );
        problems.push(SpecProblem::new("InvalidField", "metadata.name", message));
    }
}

/// `value` without its null fields (a nullable field's null reads as absent, to the CEL rules as to serde).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
