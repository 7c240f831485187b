//! The operator's view of the CronJobs it applied: their identity, applied hash and schedule-level fields,
//! deserialised straight from the watch. The job template, the status, the managed fields and the labels
//! are skipped while parsing, never allocated: a cached `CronJob` costs ~4 KB even emptied (its type holds
//! the whole pod template inline), this a few hundred bytes.
//!
//! A plain data type; what the operator compares lives in `in_line`.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::ObjectMeta, Metadata, NamespaceResourceScope, Resource};
use serde::{Deserialize, Serialize};

use super::fetch_view::slim_metadata;

/// A `batch/v1` CronJob as the operator caches it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CronJobView {
    /// Its metadata (slimmed before caching: see `in_line::slim_cronjob`).
    #[serde(deserialize_with = "slim_metadata")]
    pub metadata: ObjectMeta,
    /// The `microfleet.io/applied-hash` annotation, taken out of the annotations by `in_line::slim_cronjob`
    /// (a map of one entry costs more than the whole rest of the view).
    #[serde(skip)]
    pub applied_hash: Option<String>,
    /// The fields a person may edit by hand.
    #[serde(default)]
    pub spec: CronJobViewSpec,
}

/// The schedule-level fields of a CronJob's spec.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CronJobViewSpec {
    /// `spec.schedule`.
    #[serde(default)]
    pub schedule: String,
    /// `spec.timeZone`.
    pub time_zone: Option<String>,
    /// `spec.suspend`.
    pub suspend: Option<bool>,
    /// `spec.concurrencyPolicy`.
    pub concurrency_policy: Option<String>,
    /// `spec.startingDeadlineSeconds`.
    pub starting_deadline_seconds: Option<i64>,
    /// `spec.successfulJobsHistoryLimit`.
    pub successful_jobs_history_limit: Option<i32>,
    /// `spec.failedJobsHistoryLimit`.
    pub failed_jobs_history_limit: Option<i32>,
}

impl Resource for CronJobView {
    const API_VERSION: &'static str = "batch/v1";
    const GROUP: &'static str = "batch";
    const KIND: &'static str = "CronJob";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "cronjobs";
    type Scope = NamespaceResourceScope;
}

impl Metadata for CronJobView {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
