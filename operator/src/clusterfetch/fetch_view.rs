//! The controller's cache entry for a ClusterFetch: its identity (name, namespace, uid, resourceVersion,
//! generation, creation time) and the few status and spec values the per-object metrics read, deserialised
//! straight from the watch. The spec, the conditions' text, the run history and the managed fields are
//! skipped while parsing, never kept: a cached `ClusterFetch` cost ~3.8 KB, this a few hundred bytes. The
//! reconcile reads the whole object from the API server (`read::fetch`).
//!
//! A plain data type: what the cache holds and how it is parsed; no client, no decisions.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time},
    Metadata, Resource,
};
use microfleet_crds::clusterfetch::{ClusterFetch, RunOutcome};
use serde::{Deserialize, Deserializer};

/// A ClusterFetch as the controller caches it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "Wire")]
pub struct ClusterFetchView {
    /// Its identity: name, namespace, uid, resourceVersion, generation, creation time (nothing else).
    pub metadata: ObjectMeta,
    /// What its metrics say.
    pub summary: Summary,
}

/// The values of a ClusterFetch's per-object metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// The Ready condition is True.
    pub ready: bool,
    /// `spec.suspend`.
    pub suspended: bool,
    /// `spec.activeDeadlineSeconds`.
    pub active_deadline_seconds: i64,
    /// `status.lastSuccessfulTime`, Unix seconds.
    pub last_success: Option<f64>,
    /// `status.consecutiveFailures`.
    pub consecutive_failures: i32,
    /// The latest finished run, if any.
    pub last_run: Option<LastRun>,
    /// How many runs are active.
    pub active_runs: u32,
    /// When the oldest active run started, Unix seconds (0 when unknown); `None` while none is active.
    pub oldest_active_start: Option<f64>,
}

/// The latest finished run of a ClusterFetch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastRun {
    /// It succeeded.
    pub succeeded: bool,
    /// Items it fetched.
    pub items: Option<i64>,
    /// How long it took.
    pub duration_seconds: Option<f64>,
}

impl Resource for ClusterFetchView {
    const API_VERSION: &'static str = "microfleet.io/v1alpha1";
    const GROUP: &'static str = "microfleet.io";
    const KIND: &'static str = "ClusterFetch";
    const VERSION: &'static str = "v1alpha1";
    const URL_PATH_SEGMENT: &'static str = "clusterfetches";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl Metadata for ClusterFetchView {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl From<&ClusterFetch> for ClusterFetchView {
    /// The view of a whole object (what the watch would give for it).
    fn from(cf: &ClusterFetch) -> Self {
        let wire = serde_json::to_value(cf).and_then(serde_json::from_value::<ClusterFetchView>);
        wire.unwrap_or_default()
    }
}

/// The metadata fields the operator's views keep; managed fields and labels are skipped while parsing.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    owner_references: Option<Vec<OwnerReference>>,
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

impl From<WireMeta> for ObjectMeta {
    fn from(wire: WireMeta) -> Self {
        ObjectMeta {
            name: wire.name,
            namespace: wire.namespace,
            uid: wire.uid,
            resource_version: wire.resource_version,
            generation: wire.generation,
            creation_timestamp: wire.creation_timestamp,
            deletion_timestamp: wire.deletion_timestamp,
            owner_references: wire.owner_references,
            annotations: wire.annotations,
            ..ObjectMeta::default()
        }
    }
}

/// Deserialises an object's metadata without its managed fields and labels (never parsed), for the views.
pub fn slim_metadata<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ObjectMeta, D::Error> {
    WireMeta::deserialize(deserializer).map(ObjectMeta::from)
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "slim_metadata")]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: WireSpec,
    #[serde(default)]
    status: WireStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WireSpec {
    suspend: bool,
    active_deadline_seconds: i64,
}

impl Default for WireSpec {
    fn default() -> Self {
        WireSpec { suspend: false, active_deadline_seconds: DEFAULT_ACTIVE_DEADLINE }
    }
}

/// `spec.activeDeadlineSeconds` when absent: the CRD's default (the API server fills it in).
const DEFAULT_ACTIVE_DEADLINE: i64 = 3600;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireStatus {
    conditions: Vec<WireCondition>,
    last_successful_time: Option<Time>,
    consecutive_failures: i32,
    active: Vec<WireActive>,
    recent_runs: Vec<WireRun>,
}

#[derive(Deserialize)]
struct WireCondition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireActive {
    start_time: Option<Time>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRun {
    outcome: RunOutcome,
    items: Option<i64>,
    duration_seconds: Option<f64>,
}

fn seconds(time: &Time) -> f64 {
    time.0.as_millisecond() as f64 / 1000.0
}

impl From<Wire> for ClusterFetchView {
    fn from(wire: Wire) -> Self {
        let Wire { mut metadata, spec, status } = wire;
        metadata.annotations = None;
        metadata.owner_references = None;
        let summary = Summary {
            ready: status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"),
            suspended: spec.suspend,
            active_deadline_seconds: spec.active_deadline_seconds,
            last_success: status.last_successful_time.as_ref().map(seconds),
            consecutive_failures: status.consecutive_failures,
            last_run: status.recent_runs.first().map(|run| LastRun {
                succeeded: run.outcome == RunOutcome::Succeeded,
                items: run.items,
                duration_seconds: run.duration_seconds,
            }),
            active_runs: u32::try_from(status.active.len()).unwrap_or(u32::MAX),
            oldest_active_start: status.active.first().map(|run| run.start_time.as_ref().map_or(0.0, seconds)),
        };
        ClusterFetchView { metadata, summary }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clusterfetch::fixtures::{at, cluster_fetch, spec};
    use serde_json::json;

    #[test]
    fn the_view_keeps_identity_and_what_the_metrics_read_and_nothing_else() {
        let mut cf = cluster_fetch(spec());
        cf.metadata.resource_version = Some("42".into());
        cf.metadata.generation = Some(3);
        cf.metadata.creation_timestamp = Some(Time(at(0)));
        cf.spec.suspend = true;
        cf.spec.active_deadline_seconds = 900;
        let mut value = serde_json::to_value(&cf).unwrap();
        value["metadata"]["managedFields"] = json!([{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]);
        value["metadata"]["labels"] = json!({"team": "promo"});
        value["status"] = json!({
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Scheduled", "message": "long text", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Stalled", "status": "False", "reason": "SpecValid", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
            "lastSuccessfulTime": "1970-01-01T00:01:00Z",
            "consecutiveFailures": 2,
            "active": [{"jobName": "a", "trigger": "Schedule", "startTime": "1970-01-01T00:02:00Z"}],
            "recentRuns": [
                {"jobName": "b", "trigger": "Schedule", "outcome": "Failed", "items": 3, "durationSeconds": 1.5, "notification": "Dispatched"},
                {"jobName": "c", "trigger": "Schedule", "outcome": "Succeeded", "notification": "NotNeeded"}
            ]
        });
        let view: ClusterFetchView = serde_json::from_value(value).unwrap();
        assert_eq!(view.metadata.name, cf.metadata.name);
        assert_eq!(view.metadata.namespace, cf.metadata.namespace);
        assert_eq!(view.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(view.metadata.generation, Some(3));
        assert!(view.metadata.managed_fields.is_none() && view.metadata.labels.is_none());
        assert!(view.metadata.annotations.is_none());
        assert_eq!(
            view.summary,
            Summary {
                ready: true,
                suspended: true,
                active_deadline_seconds: 900,
                last_success: Some(60.0),
                consecutive_failures: 2,
                last_run: Some(LastRun { succeeded: false, items: Some(3), duration_seconds: Some(1.5) }),
                active_runs: 1,
                oldest_active_start: Some(120.0),
            }
        );
    }

    #[test]
    fn an_object_without_status_is_not_ready_and_has_no_runs() {
        let view = ClusterFetchView::from(&cluster_fetch(spec()));
        assert_eq!(view.summary, Summary { active_deadline_seconds: 3600, ..Summary::default() });
    }
}
