//! The skip decisions with plain values: desired against observed.

use k8s_openapi::api::batch::v1::CronJob;
use kube::ResourceExt;
use microfleet_crds::clusterfetch::ClusterFetchStatus;

use super::*;
use crate::clusterfetch::{
    build::{build_cronjob, BuildConfig},
    cronjob_view::{CronJobView, CronJobViewSpec},
    fixtures::{at, cluster_fetch, spec},
};
use crate::conditions::set_condition;

fn desired() -> CronJob {
    let mut cronjob = build_cronjob(&cluster_fetch(spec()), &BuildConfig::new("registry.local/fetcher:1")).unwrap();
    stamp(&mut cronjob);
    cronjob
}

/// The CronJob as the API server keeps it (defaults filled in, a uid), as the cache holds it: read as a
/// view from its JSON, and slimmed.
fn observed(desired: &CronJob) -> CronJobView {
    let mut cronjob = desired.clone();
    cronjob.metadata.uid = Some("cj-uid".into());
    cronjob.metadata.resource_version = Some("100".into());
    cronjob.metadata.managed_fields = Some(vec![Default::default()]);
    let spec = cronjob.spec.as_mut().unwrap();
    spec.successful_jobs_history_limit.get_or_insert(3);
    spec.failed_jobs_history_limit.get_or_insert(1);
    let mut view: CronJobView = serde_json::from_value(serde_json::to_value(&cronjob).unwrap()).unwrap();
    slim_cronjob(&mut view);
    assert!(view.managed_fields().is_empty() && view.labels().is_empty() && view.annotations().is_empty());
    assert!(view.owner_references().is_empty());
    assert_eq!(view.applied_hash.as_deref(), hash_of(desired));
    view
}

#[test]
fn the_hash_follows_the_content() {
    let a = desired();
    assert_eq!(hash_of(&a).map(str::len), Some(16));
    assert_eq!(hash_of(&a), hash_of(&desired()), "the same input gives the same hash");
    let mut s = spec();
    s.schedule = "0 3 * * *".into();
    let mut b = build_cronjob(&cluster_fetch(s), &BuildConfig::new("registry.local/fetcher:1")).unwrap();
    stamp(&mut b);
    assert_ne!(hash_of(&a), hash_of(&b));
}

#[test]
fn a_cached_cronjob_with_the_same_hash_and_fields_is_in_line() {
    let want = desired();
    assert!(cronjob_in_line(&want, &observed(&want)), "defaults and slimming do not count as a difference");
}

#[test]
fn a_changed_hash_or_a_hand_edit_is_not_in_line() {
    let want = desired();
    let mut stale = observed(&want);
    stale.applied_hash = Some("0000000000000000".into());
    assert!(!cronjob_in_line(&want, &stale), "another hash");

    let mut unstamped = observed(&want);
    unstamped.applied_hash = None;
    assert!(!cronjob_in_line(&want, &unstamped), "no hash (made by an older operator)");

    for edit in [
        |s: &mut CronJobViewSpec| s.suspend = Some(true),
        |s: &mut CronJobViewSpec| s.schedule = "* * * * *".into(),
        |s: &mut CronJobViewSpec| s.time_zone = Some("UTC".into()),
    ] {
        let mut edited = observed(&want);
        edit(&mut edited.spec);
        assert!(!cronjob_in_line(&want, &edited), "{:?}", edited.spec);
    }
}

#[test]
fn the_rule_hash_is_read_from_the_alerts_condition() {
    let mut cf = cluster_fetch(spec());
    assert!(!rule_in_line(&cf, "abc"), "no status");
    let mut status = ClusterFetchStatus::default();
    let message = rule_applied_message("promo-users-alerts", "abc");
    set_condition(&mut status.conditions, "AlertsReady", "True", "RuleApplied", &message, Some(1), at(0));
    cf.status = Some(status.clone());
    assert!(rule_in_line(&cf, "abc"));
    assert!(!rule_in_line(&cf, "abd"), "a new rule");
    set_condition(&mut status.conditions, "AlertsReady", "False", "ApplyFailed", &message, Some(1), at(0));
    cf.status = Some(status);
    assert!(!rule_in_line(&cf, "abc"), "not applied");
}

#[test]
fn a_status_write_the_cache_has_not_shown_holds_the_reconcile_back() {
    let written = Written::default();
    let mut cf = cluster_fetch(spec());
    cf.metadata.resource_version = Some("10".into());
    assert!(!written.status_behind(&cf), "nothing written yet");
    written.record_status(&cf, Some("12"));
    assert!(written.status_behind(&cf), "the cache holds 10, the write made 12");
    cf.metadata.resource_version = Some("12".into());
    assert!(!written.status_behind(&cf), "caught up");
    cf.metadata.resource_version = Some("11".into());
    assert!(!written.status_behind(&cf), "once caught up, the entry is gone");
}

#[test]
fn a_cronjob_apply_the_cache_has_not_shown_is_trusted_until_it_does() {
    let written = Written::default();
    let cf = cluster_fetch(spec());
    let want = desired();
    let hash = hash_of(&want).unwrap().to_string();
    let mut applied = observed(&want);
    assert_eq!(written.cronjob_pending(&cf, &hash, None), None, "nothing applied yet");
    written.record_cronjob(&cf, &hash, &applied);
    assert_eq!(written.cronjob_pending(&cf, &hash, None).as_deref(), Some("cj-uid"), "not in the cache yet");
    assert_eq!(written.cronjob_pending(&cf, "other", None), None, "another spec is applied anew");
    applied.metadata.resource_version = Some("99".into());
    assert_eq!(written.cronjob_pending(&cf, &hash, Some(&applied)).as_deref(), Some("cj-uid"), "cache older");
    applied.metadata.resource_version = Some("100".into());
    assert_eq!(written.cronjob_pending(&cf, &hash, Some(&applied)), None, "the cache decides once caught up");
    assert_eq!(written.cronjob_pending(&cf, &hash, None), None, "and the entry is gone");
}
